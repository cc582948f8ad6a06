package main

import (
	"encoding/json"
	"sort"
)

func propertySchema(p propSpec, secret bool) map[string]any {
	s := map[string]any{}
	switch p.kind {
	case kindBool:
		s["type"] = "boolean"
	case kindInt:
		s["type"] = "integer"
	case kindString:
		s["type"] = "string"
	case kindStringMap:
		s["type"] = "object"
		s["additionalProperties"] = map[string]any{"type": "string"}
	}
	if p.description != "" {
		s["description"] = p.description
	}
	if p.deprecated != "" {
		s["deprecationMessage"] = p.deprecated
	}
	if secret {
		s["secret"] = true
	}
	return s
}

// resourceSchema is the Pulumi package schema of one resource: its inputs,
// its outputs (inputs plus generated properties) and its state inputs (for
// `get`).
func resourceSchema(rt *resourceType) map[string]any {
	inputs, outputs := map[string]any{}, map[string]any{}
	requiredInputs, required := []string{}, []string{}
	for _, p := range rt.inputs {
		inputs[p.name] = propertySchema(p, false)
		outputs[p.name] = propertySchema(p, false)
		if p.required {
			requiredInputs = append(requiredInputs, p.name)
		}
		if p.required || p.def != nil || p.inState {
			required = append(required, p.name)
		}
	}
	for _, p := range rt.outputs {
		outputs[p.name] = propertySchema(p, p.secret)
		if p.required || p.inState {
			required = append(required, p.name)
		}
	}
	sort.Strings(required)
	sort.Strings(requiredInputs)
	return map[string]any{
		"description":     rt.description,
		"properties":      outputs,
		"required":        required,
		"inputProperties": inputs,
		"requiredInputs":  requiredInputs,
		"stateInputs": map[string]any{
			"description": "Input properties used for looking up and filtering " + rt.token + " resources.",
			"properties":  outputs,
			"type":        "object",
		},
	}
}

// packageSchema returns the JSON Pulumi package schema served by GetSchema:
// package `random` at the plugin's version, holding only the resources this
// plugin implements. Types and property names match pulumi-random 4.21.1.
func packageSchema(version string) (string, error) {
	resources := map[string]any{}
	for token, rt := range resourceTypes {
		resources[token] = resourceSchema(rt)
	}
	pkg := map[string]any{
		"name":        providerName,
		"displayName": "random",
		"version":     version,
		"description": "A Pulumi package to safely use randomness in Pulumi programs " +
			"(stand-in plugin implementing RandomPassword, RandomString and RandomId).",
		"keywords": []string{"pulumi", "random"},
		"license":  "Apache-2.0",
		"meta":     map[string]any{"moduleFormat": "(.*)(?:/[^/]*)"},
		"config":   map[string]any{},
		"provider": map[string]any{
			"description": "The provider type for the random package.",
			"type":        "object",
		},
		"resources": resources,
	}
	b, err := json.MarshalIndent(pkg, "", "  ")
	if err != nil {
		return "", err
	}
	return string(b), nil
}
