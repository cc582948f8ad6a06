package main

import (
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
)

func countIn(s, set string) int {
	n := 0
	for _, r := range s {
		if strings.ContainsRune(set, r) {
			n++
		}
	}
	return n
}

func allIn(s, set string) bool { return countIn(s, set) == utf8.RuneCountInString(s) }

func defaults(length int64) stringParams {
	return stringParams{Length: length, Upper: true, Lower: true, Numeric: true, Special: true}
}

func TestCreateStringHonoursLengthAndClasses(t *testing.T) {
	cases := []struct {
		name    string
		params  stringParams
		allowed string
	}{
		{"all classes", defaults(32), upperChars + lowerChars + numericChars + defaultSpecialChars},
		{"alphanumeric", stringParams{Length: 32, Upper: true, Lower: true, Numeric: true}, upperChars + lowerChars + numericChars},
		{"upper only", stringParams{Length: 20, Upper: true}, upperChars},
		{"lower only", stringParams{Length: 20, Lower: true}, lowerChars},
		{"numeric only", stringParams{Length: 20, Numeric: true}, numericChars},
		{"special only", stringParams{Length: 20, Special: true}, defaultSpecialChars},
		{"override special", stringParams{Length: 40, Special: true, OverrideSpecial: "_-"}, "_-"},
		{"override special ignored when special is off", stringParams{Length: 40, Lower: true, OverrideSpecial: "_-"}, lowerChars},
		{"length 1", stringParams{Length: 1, Numeric: true}, numericChars},
		{"long", defaults(1000), upperChars + lowerChars + numericChars + defaultSpecialChars},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for range 20 {
				s, err := createString(tc.params)
				if err != nil {
					t.Fatal(err)
				}
				if got := utf8.RuneCountInString(s); int64(got) != tc.params.Length {
					t.Fatalf("length %d, want %d (%q)", got, tc.params.Length, s)
				}
				if !allIn(s, tc.allowed) {
					t.Fatalf("%q has characters outside %q", s, tc.allowed)
				}
			}
		})
	}
}

func TestCreateStringUsesEveryEnabledClass(t *testing.T) {
	// 200 characters from 4 classes: each class missing has odds < 4e-14.
	s, err := createString(defaults(200))
	if err != nil {
		t.Fatal(err)
	}
	for _, set := range []string{upperChars, lowerChars, numericChars, defaultSpecialChars} {
		if countIn(s, set) == 0 {
			t.Errorf("%q has no character from %q", s, set)
		}
	}
}

func TestCreateStringHonoursMinimums(t *testing.T) {
	p := stringParams{
		Length: 12, Upper: true, Lower: true, Numeric: true, Special: true,
		MinUpper: 3, MinLower: 2, MinNumeric: 4, MinSpecial: 3,
	}
	for range 200 {
		s, err := createString(p)
		if err != nil {
			t.Fatal(err)
		}
		if countIn(s, upperChars) < 3 || countIn(s, lowerChars) < 2 ||
			countIn(s, numericChars) < 4 || countIn(s, defaultSpecialChars) < 3 {
			t.Fatalf("%q misses a minimum", s)
		}
	}
}

func TestCreateStringMinimumsApplyEvenToDisabledClasses(t *testing.T) {
	// Upstream draws the minimums from their class whether or not the class
	// is enabled; only the remainder comes from the enabled classes.
	p := stringParams{Length: 10, Lower: true, MinNumeric: 3, MinSpecial: 2, OverrideSpecial: "#"}
	for range 50 {
		s, err := createString(p)
		if err != nil {
			t.Fatal(err)
		}
		if countIn(s, numericChars) != 3 || countIn(s, "#") != 2 || countIn(s, lowerChars) != 5 {
			t.Fatalf("%q: want exactly 3 digits, 2 '#', 5 lowercase", s)
		}
	}
}

func TestCreateStringShufflesMinimums(t *testing.T) {
	// The minimum characters are generated first; they must not stay in front.
	p := stringParams{Length: 16, Lower: true, MinNumeric: 1}
	firstIsDigit := 0
	for range 200 {
		s, err := createString(p)
		if err != nil {
			t.Fatal(err)
		}
		if strings.ContainsRune(numericChars, rune(s[0])) {
			firstIsDigit++
		}
	}
	if firstIsDigit > 60 { // expected ~12.5 of 200
		t.Fatalf("the digit came first in %d of 200 strings: not shuffled", firstIsDigit)
	}
}

func TestCreateStringMultiByteOverrideSpecial(t *testing.T) {
	s, err := createString(stringParams{Length: 8, Special: true, OverrideSpecial: "é€"})
	if err != nil {
		t.Fatal(err)
	}
	if utf8.RuneCountInString(s) != 8 || !utf8.ValidString(s) || !allIn(s, "é€") {
		t.Fatalf("got %q", s)
	}
}

func TestCreateStringRejectsInvalidParams(t *testing.T) {
	cases := map[string]stringParams{
		"zero length":      {Length: 0, Lower: true},
		"negative length":  {Length: -3, Lower: true},
		"mins over length": {Length: 4, Lower: true, MinUpper: 2, MinNumeric: 3},
		"negative minimum": {Length: 4, Lower: true, MinUpper: -1},
		"empty set":        {Length: 4},
	}
	for name, p := range cases {
		if _, err := createString(p); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestCreateStringIsRandom(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		s, err := createString(defaults(16))
		if err != nil {
			t.Fatal(err)
		}
		if seen[s] {
			t.Fatalf("%q generated twice", s)
		}
		seen[s] = true
	}
}

func TestBcryptHash(t *testing.T) {
	h, err := bcryptHash("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if err := bcrypt.CompareHashAndPassword([]byte(h), []byte("correct horse")); err != nil {
		t.Fatalf("hash does not match: %v", err)
	}
	if cost, _ := bcrypt.Cost([]byte(h)); cost != bcrypt.DefaultCost {
		t.Fatalf("cost %d, want %d", cost, bcrypt.DefaultCost)
	}
	// Longer than 72 bytes: the hash is of the first 72 bytes, as upstream.
	long := strings.Repeat("a", 72) + "tail"
	h, err = bcryptHash(long)
	if err != nil {
		t.Fatal(err)
	}
	if err := bcrypt.CompareHashAndPassword([]byte(h), []byte(long[:72])); err != nil {
		t.Fatalf("hash of a long string does not match its first 72 bytes: %v", err)
	}
}
