package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"

	"golang.org/x/crypto/bcrypt"
)

// Character classes, as in terraform-provider-random's internal/random package.
const (
	numericChars = "0123456789"
	lowerChars   = "abcdefghijklmnopqrstuvwxyz"
	upperChars   = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	// defaultSpecialChars is used for the special class unless overrideSpecial
	// is a non-empty string.
	defaultSpecialChars = "!@#$%&*()-_=+[]{}<>:?"
)

// stringParams are the generator inputs of RandomPassword and RandomString.
type stringParams struct {
	Length          int64
	Upper           bool
	MinUpper        int64
	Lower           bool
	MinLower        int64
	Numeric         bool
	MinNumeric      int64
	Special         bool
	MinSpecial      int64
	OverrideSpecial string
}

func (p stringParams) specialChars() string {
	if p.OverrideSpecial != "" {
		return p.OverrideSpecial
	}
	return defaultSpecialChars
}

// validate reports the first reason the parameters cannot produce a string.
// Check reports the same conditions per property; this guards Create.
func (p stringParams) validate() error {
	if p.Length < 1 {
		return fmt.Errorf("length must be at least 1, got %d", p.Length)
	}
	for _, m := range []int64{p.MinUpper, p.MinLower, p.MinNumeric, p.MinSpecial} {
		if m < 0 {
			return errors.New("minUpper, minLower, minNumeric and minSpecial must not be negative")
		}
	}
	if sum := p.MinUpper + p.MinLower + p.MinNumeric + p.MinSpecial; sum > p.Length {
		return fmt.Errorf("length (%d) must be at least minUpper + minLower + minNumeric + minSpecial (%d)",
			p.Length, sum)
	}
	if !p.Upper && !p.Lower && !p.Numeric && !p.Special {
		return errors.New("the character set specified is empty: at least one of upper, lower, numeric and special must be true")
	}
	return nil
}

// createString generates a random string the way terraform-provider-random's
// CreateString does: first MinNumeric/MinLower/MinUpper/MinSpecial characters
// drawn from each class (whether or not the class is enabled, as upstream),
// then the rest of Length drawn from the union of the enabled classes, then the
// whole shuffled. Characters are runes, so a multi-byte overrideSpecial yields
// Length characters rather than Length bytes. All randomness is crypto/rand;
// the shuffle is a uniform Fisher-Yates (upstream sorts by random keys).
func createString(p stringParams) (string, error) {
	if err := p.validate(); err != nil {
		return "", err
	}
	special := p.specialChars()

	var all string
	if p.Upper {
		all += upperChars
	}
	if p.Lower {
		all += lowerChars
	}
	if p.Numeric {
		all += numericChars
	}
	if p.Special {
		all += special
	}

	result := make([]rune, 0, p.Length)
	for _, m := range []struct {
		chars string
		n     int64
	}{
		{numericChars, p.MinNumeric},
		{lowerChars, p.MinLower},
		{upperChars, p.MinUpper},
		{special, p.MinSpecial},
	} {
		s, err := randomRunes(m.chars, m.n)
		if err != nil {
			return "", err
		}
		result = append(result, s...)
	}
	rest, err := randomRunes(all, p.Length-int64(len(result)))
	if err != nil {
		return "", err
	}
	result = append(result, rest...)

	for i := len(result) - 1; i > 0; i-- {
		j, err := randomIndex(i + 1)
		if err != nil {
			return "", err
		}
		result[i], result[j] = result[j], result[i]
	}
	return string(result), nil
}

// randomRunes returns n runes drawn uniformly from charSet.
func randomRunes(charSet string, n int64) ([]rune, error) {
	if n <= 0 {
		return nil, nil
	}
	set := []rune(charSet)
	if len(set) == 0 {
		return nil, errors.New("character set is empty")
	}
	out := make([]rune, n)
	for i := range out {
		idx, err := randomIndex(len(set))
		if err != nil {
			return nil, err
		}
		out[i] = set[idx]
	}
	return out, nil
}

// randomIndex returns a uniform random integer in [0, n).
func randomIndex(n int) (int, error) {
	v, err := rand.Int(rand.Reader, big.NewInt(int64(n)))
	if err != nil {
		return 0, fmt.Errorf("reading random numbers: %w", err)
	}
	return int(v.Int64()), nil
}

// bcryptHash hashes s with bcrypt's default cost. Like upstream, a string
// longer than 72 bytes is hashed on its first 72 bytes (bcrypt ignores the
// rest, and golang.org/x/crypto/bcrypt refuses longer input).
func bcryptHash(s string) (string, error) {
	b := []byte(s)
	if len(b) > 72 {
		b = b[:72]
	}
	h, err := bcrypt.GenerateFromPassword(b, bcrypt.DefaultCost)
	if err != nil {
		return "", fmt.Errorf("generating bcrypt hash: %w", err)
	}
	return string(h), nil
}

// randRead fills b with cryptographically secure random bytes.
var randRead = rand.Read
