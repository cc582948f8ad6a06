package main

import (
	"fmt"
	"math"
	"sort"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// maxSafeInt is the largest integer a float64 (the wire type of numbers)
// represents exactly.
const maxSafeInt = 1 << 53

// plain returns v with every secret wrapper removed (also inside objects and
// arrays) and whether the whole value is known. Known output values are
// unwrapped like secrets.
func plain(v resource.PropertyValue) (resource.PropertyValue, bool) {
	switch {
	case v.IsSecret():
		return plain(v.SecretValue().Element)
	case v.IsComputed():
		return v, false
	case v.IsOutput():
		o := v.OutputValue()
		if !o.Known {
			return v, false
		}
		return plain(o.Element)
	case v.IsObject():
		out := resource.PropertyMap{}
		known := true
		for k, e := range v.ObjectValue() {
			p, ok := plain(e)
			known = known && ok
			out[k] = p
		}
		return resource.NewObjectProperty(out), known
	case v.IsArray():
		arr := v.ArrayValue()
		out := make([]resource.PropertyValue, len(arr))
		known := true
		for i, e := range arr {
			p, ok := plain(e)
			known = known && ok
			out[i] = p
		}
		return resource.NewArrayProperty(out), known
	}
	return v, true
}

// isSecret reports whether v is a secret or a secret output value.
func isSecret(v resource.PropertyValue) bool {
	return v.IsSecret() || (v.IsOutput() && v.OutputValue().Secret)
}

// lookup returns the plain value stored under key, whether the key is present
// with a non-null value, and whether that value is known.
func lookup(m resource.PropertyMap, key string) (v resource.PropertyValue, present, known bool) {
	raw, ok := m[resource.PropertyKey(key)]
	if !ok || raw.IsNull() {
		return resource.PropertyValue{}, false, true
	}
	p, known := plain(raw)
	if known && p.IsNull() {
		return resource.PropertyValue{}, false, true
	}
	return p, true, known
}

// getBool returns a known boolean property. ok is false if the property is
// absent, unknown or not a boolean.
func getBool(m resource.PropertyMap, key string) (val, ok bool) {
	v, present, known := lookup(m, key)
	if !present || !known || !v.IsBool() {
		return false, false
	}
	return v.BoolValue(), true
}

// getInt returns a known integer property. ok is false if the property is
// absent, unknown or not an integer.
func getInt(m resource.PropertyMap, key string) (val int64, ok bool) {
	v, present, known := lookup(m, key)
	if !present || !known || !v.IsNumber() {
		return 0, false
	}
	n := v.NumberValue()
	if n != math.Trunc(n) || math.Abs(n) > maxSafeInt {
		return 0, false
	}
	return int64(n), true
}

// getString returns a known string property ("" and false if absent).
func getString(m resource.PropertyMap, key string) (val string, ok bool) {
	v, present, known := lookup(m, key)
	if !present || !known || !v.IsString() {
		return "", false
	}
	return v.StringValue(), true
}

// typeError describes why v (already plain and known) is not of kind k, or
// returns "".
func typeError(k propKind, v resource.PropertyValue) string {
	switch k {
	case kindBool:
		if !v.IsBool() {
			return fmt.Sprintf("expected a boolean, got %s", describe(v))
		}
	case kindInt:
		if !v.IsNumber() {
			return fmt.Sprintf("expected an integer, got %s", describe(v))
		}
		n := v.NumberValue()
		if n != math.Trunc(n) || math.IsInf(n, 0) {
			return fmt.Sprintf("expected an integer, got %v", n)
		}
		if math.Abs(n) > maxSafeInt {
			return fmt.Sprintf("integer %v is out of range", n)
		}
	case kindString:
		if !v.IsString() {
			return fmt.Sprintf("expected a string, got %s", describe(v))
		}
	case kindStringMap:
		if !v.IsObject() {
			return fmt.Sprintf("expected a map of strings, got %s", describe(v))
		}
		for _, k := range sortedKeys(v.ObjectValue()) {
			e := v.ObjectValue()[resource.PropertyKey(k)]
			if !e.IsString() && !e.IsNull() && !e.IsComputed() && !e.IsOutput() {
				return fmt.Sprintf("expected a map of strings, but key %q is %s", k, describe(e))
			}
		}
	}
	return ""
}

func describe(v resource.PropertyValue) string {
	switch {
	case v.IsBool():
		return "a boolean"
	case v.IsNumber():
		return "a number"
	case v.IsString():
		return "a string"
	case v.IsObject():
		return "an object"
	case v.IsArray():
		return "an array"
	case v.IsAsset():
		return "an asset"
	case v.IsArchive():
		return "an archive"
	case v.IsResourceReference():
		return "a resource reference"
	}
	return string(v.TypeString())
}

func sortedKeys(m resource.PropertyMap) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, string(k))
	}
	sort.Strings(keys)
	return keys
}
