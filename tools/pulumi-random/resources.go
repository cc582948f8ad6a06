package main

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/big"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

const (
	providerName    = "random"
	passwordToken   = "random:index/randomPassword:RandomPassword"
	stringToken     = "random:index/randomString:RandomString"
	randomIDToken   = "random:index/randomId:RandomId"
	passwordStateID = "none" // upstream random_password's fixed ID
)

type propKind int

const (
	kindBool propKind = iota
	kindInt
	kindString
	kindStringMap
)

// propSpec describes one property of a resource.
type propSpec struct {
	name        string
	kind        propKind
	required    bool                    // required input
	inState     bool                    // always present in the state (beyond required/defaulted)
	def         *resource.PropertyValue // default filled in by Check, if any
	secret      bool                    // output is a secret
	deprecated  string                  // deprecation message, if any
	description string
}

// resourceType is one resource of the package. Every input forces
// replacement; the outputs are the inputs plus the generated properties.
type resourceType struct {
	token       string
	description string
	inputs      []propSpec
	outputs     []propSpec // generated properties only (inputs are outputs too)

	// prepare fills in inputs that depend on each other (number/numeric) and
	// reports conflicts; it runs before the static defaults.
	prepare func(m resource.PropertyMap) []*pulumirpc.CheckFailure
	// validate checks the known values of defaulted inputs.
	validate func(m resource.PropertyMap) []*pulumirpc.CheckFailure
	// generate returns the resource ID and the generated output properties
	// (plain values; the provider marks secrets).
	generate func(m resource.PropertyMap) (string, resource.PropertyMap, error)
	// importState builds state (outputs, which include the inputs) from an
	// import ID, as upstream's ImportState does. It returns the resource ID.
	importState func(id string) (string, resource.PropertyMap, error)
}

func (rt *resourceType) input(name string) (propSpec, bool) {
	for _, p := range rt.inputs {
		if p.name == name {
			return p, true
		}
	}
	return propSpec{}, false
}

func (rt *resourceType) secretOutputs() []string {
	var out []string
	for _, p := range rt.outputs {
		if p.secret {
			out = append(out, p.name)
		}
	}
	return out
}

// check validates news (the program's inputs) and returns them with defaults
// filled in. Unknown values are accepted and validated once known.
func (rt *resourceType) check(news resource.PropertyMap) (resource.PropertyMap, []*pulumirpc.CheckFailure) {
	var failures []*pulumirpc.CheckFailure
	fail := func(prop, format string, args ...any) {
		failures = append(failures, &pulumirpc.CheckFailure{Property: prop, Reason: fmt.Sprintf(format, args...)})
	}

	out := resource.PropertyMap{}
	for _, key := range sortedKeys(news) {
		raw := news[resource.PropertyKey(key)]
		if strings.HasPrefix(key, "__") || raw.IsNull() {
			continue // engine-internal keys and nulls: treated as not set
		}
		spec, ok := rt.input(key)
		if !ok {
			fail(key, "unknown property %q for %s", key, rt.token)
			continue
		}
		if v, known := plain(raw); known {
			if v.IsNull() {
				continue
			}
			if msg := typeError(spec.kind, v); msg != "" {
				fail(key, "%s", msg)
				continue
			}
		}
		out[resource.PropertyKey(key)] = raw
	}
	for _, spec := range rt.inputs {
		if v, given := news[resource.PropertyKey(spec.name)]; spec.required && (!given || v.IsNull()) {
			fail(spec.name, "missing required property '%s'", spec.name)
		}
	}
	if len(failures) > 0 {
		return out, failures
	}
	failures = append(failures, rt.applyDefaults(out)...)
	failures = append(failures, rt.validateKnown(out)...)
	return out, failures
}

func (rt *resourceType) validateKnown(m resource.PropertyMap) []*pulumirpc.CheckFailure {
	if rt.validate == nil {
		return nil
	}
	return rt.validate(m)
}

// applyDefaults runs prepare and fills in static defaults, in place.
func (rt *resourceType) applyDefaults(m resource.PropertyMap) []*pulumirpc.CheckFailure {
	var failures []*pulumirpc.CheckFailure
	if rt.prepare != nil {
		failures = rt.prepare(m)
	}
	for _, spec := range rt.inputs {
		if spec.def == nil {
			continue
		}
		if v, ok := m[resource.PropertyKey(spec.name)]; !ok || v.IsNull() {
			m[resource.PropertyKey(spec.name)] = *spec.def
		}
	}
	return failures
}

// comparableInputs extracts the inputs from a property map (old outputs or new
// checked inputs) with defaults applied, so that a state written by an
// earlier version that lacks a defaulted property compares equal.
func (rt *resourceType) comparableInputs(m resource.PropertyMap) resource.PropertyMap {
	out := resource.PropertyMap{}
	for _, spec := range rt.inputs {
		if v, ok := m[resource.PropertyKey(spec.name)]; ok && !v.IsNull() {
			out[resource.PropertyKey(spec.name)] = v
		}
	}
	_ = rt.applyDefaults(out)
	return out
}

// inputsOf returns the input properties found in a state.
func (rt *resourceType) inputsOf(state resource.PropertyMap) resource.PropertyMap {
	out := resource.PropertyMap{}
	for _, spec := range rt.inputs {
		if v, ok := state[resource.PropertyKey(spec.name)]; ok && !v.IsNull() {
			out[resource.PropertyKey(spec.name)] = v
		}
	}
	return out
}

// diff returns the inputs whose change forces replacement: all of them,
// unless ignored. Values are compared without their secret wrappers; a
// nil keepers map equals an empty one (as upstream's keepers plan modifier
// has it) and a null overrideSpecial equals "".
func (rt *resourceType) diff(olds, news resource.PropertyMap, ignore []string) map[string]*pulumirpc.PropertyDiff {
	ignored := map[string]bool{}
	for _, path := range ignore {
		ignored[path] = true
	}
	oldIn, newIn := rt.comparableInputs(olds), rt.comparableInputs(news)
	changes := map[string]*pulumirpc.PropertyDiff{}
	for _, spec := range rt.inputs {
		if ignored[spec.name] {
			continue
		}
		o, oOK := oldIn[resource.PropertyKey(spec.name)]
		n, nOK := newIn[resource.PropertyKey(spec.name)]
		if !oOK {
			o = resource.NewNullProperty()
		}
		if !nOK {
			n = resource.NewNullProperty()
		}
		if sameValue(spec.kind, o, n) {
			continue
		}
		kind := pulumirpc.PropertyDiff_UPDATE_REPLACE
		switch {
		case isEmpty(spec.kind, o):
			kind = pulumirpc.PropertyDiff_ADD_REPLACE
		case isEmpty(spec.kind, n):
			kind = pulumirpc.PropertyDiff_DELETE_REPLACE
		}
		changes[spec.name] = &pulumirpc.PropertyDiff{Kind: kind, InputDiff: true}
	}
	return changes
}

// normalized returns the plain value used for comparison and whether it is
// known.
func normalized(k propKind, v resource.PropertyValue) (resource.PropertyValue, bool) {
	p, known := plain(v)
	if !known {
		return p, false
	}
	switch k {
	case kindStringMap:
		if p.IsNull() {
			return resource.NewObjectProperty(resource.PropertyMap{}), true
		}
		if p.IsObject() {
			m := resource.PropertyMap{}
			for key, e := range p.ObjectValue() {
				if !e.IsNull() { // upstream ignores null-valued keepers
					m[key] = e
				}
			}
			return resource.NewObjectProperty(m), true
		}
	case kindString:
		if p.IsNull() {
			return resource.NewStringProperty(""), true
		}
	}
	return p, true
}

func sameValue(k propKind, o, n resource.PropertyValue) bool {
	on, oKnown := normalized(k, o)
	nn, nKnown := normalized(k, n)
	if !oKnown || !nKnown {
		return false // an unknown new value may differ: plan a replacement
	}
	return on.DeepEquals(nn)
}

func isEmpty(k propKind, v resource.PropertyValue) bool {
	n, known := normalized(k, v)
	if !known {
		return false
	}
	switch {
	case n.IsNull():
		return true
	case k == kindStringMap && n.IsObject():
		return len(n.ObjectValue()) == 0
	case k == kindString && n.IsString():
		return n.StringValue() == ""
	}
	return false
}

// ---------------------------------------------------------------------------
// RandomPassword and RandomString

func boolDefault(b bool) *resource.PropertyValue {
	v := resource.NewBoolProperty(b)
	return &v
}

func intDefault(n int64) *resource.PropertyValue {
	v := resource.NewNumberProperty(float64(n))
	return &v
}

const keepersDescription = "Arbitrary map of values that, when changed, will trigger recreation of resource."

func stringInputs() []propSpec {
	return []propSpec{
		{name: "keepers", kind: kindStringMap, description: keepersDescription},
		{name: "length", kind: kindInt, required: true, description: "The length of the string desired. " +
			"The minimum value for length is 1 and, length must also be >= (`minUpper` + `minLower` + " +
			"`minNumeric` + `minSpecial`)."},
		{name: "lower", kind: kindBool, def: boolDefault(true),
			description: "Include lowercase alphabet characters in the result. Default value is `true`."},
		{name: "minLower", kind: kindInt, def: intDefault(0),
			description: "Minimum number of lowercase alphabet characters in the result. Default value is `0`."},
		{name: "minNumeric", kind: kindInt, def: intDefault(0),
			description: "Minimum number of numeric characters in the result. Default value is `0`."},
		{name: "minSpecial", kind: kindInt, def: intDefault(0),
			description: "Minimum number of special characters in the result. Default value is `0`."},
		{name: "minUpper", kind: kindInt, def: intDefault(0),
			description: "Minimum number of uppercase alphabet characters in the result. Default value is `0`."},
		{name: "number", kind: kindBool, inState: true,
			deprecated:  "**NOTE**: This is deprecated, use `numeric` instead.",
			description: "Include numeric characters in the result. Default value is `true`. **NOTE**: This is deprecated, use `numeric` instead."},
		{name: "numeric", kind: kindBool, inState: true,
			description: "Include numeric characters in the result. Default value is `true`. If `numeric`, " +
				"`upper`, `lower`, and `special` are all configured, at least one of them must be set to `true`."},
		{name: "overrideSpecial", kind: kindString, description: "Supply your own list of special characters " +
			"to use for string generation. This overrides the default character list in the special argument. " +
			"The `special` argument must still be set to true for any overwritten characters to be used in generation."},
		{name: "special", kind: kindBool, def: boolDefault(true),
			description: "Include special characters in the result. These are `" + defaultSpecialChars +
				"`. Default value is `true`."},
		{name: "upper", kind: kindBool, def: boolDefault(true),
			description: "Include uppercase alphabet characters in the result. Default value is `true`."},
	}
}

// prepareNumberNumeric keeps the deprecated `number` and `numeric` in step, as
// upstream's NumberNumericAttributePlanModifier does: if only one is set the
// other takes its value, if neither is set both are true, and if both are set
// they must agree.
func prepareNumberNumeric(m resource.PropertyMap) []*pulumirpc.CheckFailure {
	number, hasNumber := m["number"]
	numeric, hasNumeric := m["numeric"]
	hasNumber = hasNumber && !number.IsNull()
	hasNumeric = hasNumeric && !numeric.IsNull()
	switch {
	case hasNumber && hasNumeric:
		a, aOK := getBool(m, "number")
		b, bOK := getBool(m, "numeric")
		if aOK && bOK && a != b {
			return []*pulumirpc.CheckFailure{{
				Property: "number",
				Reason:   "number and numeric are both configured with different values; number is deprecated, use numeric instead",
			}}
		}
	case hasNumber:
		m["numeric"] = number
	case hasNumeric:
		m["number"] = numeric
	default:
		m["number"] = resource.NewBoolProperty(true)
		m["numeric"] = resource.NewBoolProperty(true)
	}
	return nil
}

func validateStringParams(m resource.PropertyMap) []*pulumirpc.CheckFailure {
	var failures []*pulumirpc.CheckFailure
	length, lengthKnown := getInt(m, "length")
	if lengthKnown && length < 1 {
		failures = append(failures, &pulumirpc.CheckFailure{
			Property: "length",
			Reason:   fmt.Sprintf("length must be at least 1, got %d", length),
		})
	}
	sum, allKnown := int64(0), lengthKnown
	for _, key := range []string{"minUpper", "minLower", "minNumeric", "minSpecial"} {
		n, ok := getInt(m, key)
		if !ok {
			allKnown = false
			continue
		}
		if n < 0 {
			failures = append(failures, &pulumirpc.CheckFailure{
				Property: key,
				Reason:   fmt.Sprintf("%s must not be negative, got %d", key, n),
			})
			allKnown = false
		}
		sum += n
	}
	if allKnown && length >= 1 && length < sum {
		failures = append(failures, &pulumirpc.CheckFailure{
			Property: "length",
			Reason: fmt.Sprintf("length (%d) must be at least minUpper + minLower + minNumeric + minSpecial (%d)",
				length, sum),
		})
	}
	anyTrue, allKnownBools := false, true
	for _, key := range []string{"upper", "lower", "numeric", "special"} {
		b, ok := getBool(m, key)
		if !ok {
			allKnownBools = false
		}
		anyTrue = anyTrue || b
	}
	if allKnownBools && !anyTrue {
		failures = append(failures, &pulumirpc.CheckFailure{
			Property: "numeric",
			Reason:   "at least one of upper, lower, numeric and special must be true (the character set is empty)",
		})
	}
	return failures
}

// stringParamsOf reads generator parameters from defaulted, known inputs.
func stringParamsOf(m resource.PropertyMap) (stringParams, error) {
	var p stringParams
	var ok bool
	if p.Length, ok = getInt(m, "length"); !ok {
		return p, fmt.Errorf("length must be a known integer")
	}
	p.Upper, _ = getBool(m, "upper")
	p.Lower, _ = getBool(m, "lower")
	p.Numeric, _ = getBool(m, "numeric")
	p.Special, _ = getBool(m, "special")
	p.MinUpper, _ = getInt(m, "minUpper")
	p.MinLower, _ = getInt(m, "minLower")
	p.MinNumeric, _ = getInt(m, "minNumeric")
	p.MinSpecial, _ = getInt(m, "minSpecial")
	p.OverrideSpecial, _ = getString(m, "overrideSpecial")
	return p, p.validate()
}

// importedStringState is upstream's ImportState for random_password and
// random_string: the ID is the value, everything else takes its default.
func importedStringState(value string) resource.PropertyMap {
	return resource.PropertyMap{
		"result":     resource.NewStringProperty(value),
		"length":     resource.NewNumberProperty(float64(len(value))),
		"special":    resource.NewBoolProperty(true),
		"upper":      resource.NewBoolProperty(true),
		"lower":      resource.NewBoolProperty(true),
		"number":     resource.NewBoolProperty(true),
		"numeric":    resource.NewBoolProperty(true),
		"minSpecial": resource.NewNumberProperty(0),
		"minUpper":   resource.NewNumberProperty(0),
		"minLower":   resource.NewNumberProperty(0),
		"minNumeric": resource.NewNumberProperty(0),
	}
}

var passwordResource = &resourceType{
	token: passwordToken,
	description: "Identical to RandomString with the exception that the result is treated as sensitive " +
		"and, thus, not displayed in console output. This resource uses a cryptographic random number generator.",
	inputs: stringInputs(),
	outputs: []propSpec{
		{name: "bcryptHash", kind: kindString, inState: true, secret: true,
			description: "A bcrypt hash of the generated random string. **NOTE**: If the generated random string " +
				"is greater than 72 bytes in length, `bcryptHash` will contain a hash of the first 72 bytes."},
		{name: "result", kind: kindString, inState: true, secret: true, description: "The generated random string."},
	},
	prepare:  prepareNumberNumeric,
	validate: validateStringParams,
	generate: func(m resource.PropertyMap) (string, resource.PropertyMap, error) {
		p, err := stringParamsOf(m)
		if err != nil {
			return "", nil, err
		}
		result, err := createString(p)
		if err != nil {
			return "", nil, err
		}
		hash, err := bcryptHash(result)
		if err != nil {
			return "", nil, err
		}
		return passwordStateID, resource.PropertyMap{
			"result":     resource.NewStringProperty(result),
			"bcryptHash": resource.NewStringProperty(hash),
		}, nil
	},
	importState: func(id string) (string, resource.PropertyMap, error) {
		state := importedStringState(id)
		hash, err := bcryptHash(id)
		if err != nil {
			return "", nil, err
		}
		state["bcryptHash"] = resource.NewStringProperty(hash)
		return passwordStateID, state, nil
	},
}

var stringResource = &resourceType{
	token: stringToken,
	description: "Generates a random permutation of alphanumeric characters and optionally special characters. " +
		"This resource uses a cryptographic random number generator. Historically this resource's intended " +
		"usage has been ambiguous as the original example used it in a password. For backwards compatibility it " +
		"will continue to exist. For unique ids please use RandomId, for sensitive random values please use " +
		"RandomPassword.",
	inputs: stringInputs(),
	outputs: []propSpec{
		{name: "result", kind: kindString, inState: true, description: "The generated random string."},
	},
	prepare:  prepareNumberNumeric,
	validate: validateStringParams,
	generate: func(m resource.PropertyMap) (string, resource.PropertyMap, error) {
		p, err := stringParamsOf(m)
		if err != nil {
			return "", nil, err
		}
		result, err := createString(p)
		if err != nil {
			return "", nil, err
		}
		return result, resource.PropertyMap{"result": resource.NewStringProperty(result)}, nil
	},
	importState: func(id string) (string, resource.PropertyMap, error) {
		return id, importedStringState(id), nil
	},
}

// ---------------------------------------------------------------------------
// RandomId

// idOutputs derives RandomId's outputs from its random bytes, as upstream.
func idOutputs(b []byte, prefix string) (string, resource.PropertyMap) {
	id := base64.RawURLEncoding.EncodeToString(b)
	return id, resource.PropertyMap{
		"b64Url": resource.NewStringProperty(prefix + id),
		"b64Std": resource.NewStringProperty(prefix + base64.StdEncoding.EncodeToString(b)),
		"hex":    resource.NewStringProperty(prefix + hex.EncodeToString(b)),
		"dec":    resource.NewStringProperty(prefix + new(big.Int).SetBytes(b).String()),
	}
}

var randomIDResource = &resourceType{
	token: randomIDToken,
	description: "Generates random numbers that are intended to be used as unique identifiers for other " +
		"resources. This resource uses a cryptographic random number generator.",
	inputs: []propSpec{
		{name: "byteLength", kind: kindInt, required: true, description: "The number of random bytes to " +
			"produce. The minimum value is 1, which produces eight bits of randomness."},
		{name: "keepers", kind: kindStringMap, description: keepersDescription},
		{name: "prefix", kind: kindString, description: "Arbitrary string to prefix the output value with. " +
			"This string is supplied as-is, meaning it is not guaranteed to be URL-safe or base64 encoded."},
	},
	outputs: []propSpec{
		{name: "b64Std", kind: kindString, inState: true,
			description: "The generated id presented in base64 without additional transformations."},
		{name: "b64Url", kind: kindString, inState: true, description: "The generated id presented in " +
			"base64, using the URL-friendly character set: case-sensitive letters, digits and the characters `_` and `-`."},
		{name: "dec", kind: kindString, inState: true, description: "The generated id presented in non-padded " +
			"decimal digits."},
		{name: "hex", kind: kindString, inState: true, description: "The generated id presented in padded " +
			"hexadecimal digits. This result will always be twice as long as the requested byte length."},
	},
	validate: func(m resource.PropertyMap) []*pulumirpc.CheckFailure {
		if n, ok := getInt(m, "byteLength"); ok && n < 1 {
			return []*pulumirpc.CheckFailure{{
				Property: "byteLength",
				Reason:   fmt.Sprintf("byteLength must be at least 1, got %d", n),
			}}
		}
		return nil
	},
	generate: func(m resource.PropertyMap) (string, resource.PropertyMap, error) {
		n, ok := getInt(m, "byteLength")
		if !ok || n < 1 {
			return "", nil, fmt.Errorf("byteLength must be a known integer of at least 1")
		}
		b := make([]byte, n)
		if _, err := randRead(b); err != nil {
			return "", nil, fmt.Errorf("reading random bytes: %w", err)
		}
		prefix, _ := getString(m, "prefix")
		id, outs := idOutputs(b, prefix)
		return id, outs, nil
	},
	// Import ID: the base64url ID, optionally preceded by "prefix,".
	importState: func(importID string) (string, resource.PropertyMap, error) {
		id, prefix := importID, ""
		if sep := strings.LastIndex(importID, ","); sep != -1 {
			prefix, id = importID[:sep], importID[sep+1:]
		}
		b, err := base64.RawURLEncoding.DecodeString(id)
		if err != nil {
			return "", nil, fmt.Errorf("importing a random id: decoding %q as unpadded base64url: %w", id, err)
		}
		id, state := idOutputs(b, prefix)
		state["byteLength"] = resource.NewNumberProperty(float64(len(b)))
		if prefix != "" {
			state["prefix"] = resource.NewStringProperty(prefix)
		}
		return id, state, nil
	},
}

var resourceTypes = map[string]*resourceType{
	passwordToken: passwordResource,
	stringToken:   stringResource,
	randomIDToken: randomIDResource,
}
