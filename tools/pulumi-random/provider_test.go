package main

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
)

var ctx = context.Background()

func urnOf(token, name string) string {
	return "urn:pulumi:dev::proj::" + token + "::" + name
}

func newTestProvider(t *testing.T, acceptSecrets bool) *randomProvider {
	t.Helper()
	p := newProvider(nil, "4.21.1")
	res, err := p.Configure(ctx, &pulumirpc.ConfigureRequest{AcceptSecrets: acceptSecrets})
	if err != nil {
		t.Fatal(err)
	}
	if !res.AcceptSecrets || !res.SupportsPreview {
		t.Fatalf("Configure: %v", res)
	}
	return p
}

var wireOpts = plugin.MarshalOptions{KeepUnknowns: true, KeepSecrets: true}

func toWire(t *testing.T, m resource.PropertyMap) *structpb.Struct {
	t.Helper()
	s, err := plugin.MarshalProperties(m, wireOpts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func fromWire(t *testing.T, s *structpb.Struct) resource.PropertyMap {
	t.Helper()
	m, err := plugin.UnmarshalProperties(s, wireOpts)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func props(kv map[string]any) resource.PropertyMap {
	return resource.NewPropertyMapFromMap(kv)
}

func doCheck(t *testing.T, p *randomProvider, token string, news resource.PropertyMap) (resource.PropertyMap, []*pulumirpc.CheckFailure) {
	t.Helper()
	res, err := p.Check(ctx, &pulumirpc.CheckRequest{
		Urn: urnOf(token, "r"), Type: token, Name: "r", News: toWire(t, news),
	})
	if err != nil {
		t.Fatal(err)
	}
	return fromWire(t, res.Inputs), res.Failures
}

func mustCheck(t *testing.T, p *randomProvider, token string, news resource.PropertyMap) resource.PropertyMap {
	t.Helper()
	inputs, failures := doCheck(t, p, token, news)
	if len(failures) > 0 {
		t.Fatalf("unexpected check failures: %v", failures)
	}
	return inputs
}

func doCreate(t *testing.T, p *randomProvider, token string, inputs resource.PropertyMap, preview bool) (*pulumirpc.CreateResponse, resource.PropertyMap) {
	t.Helper()
	res, err := p.Create(ctx, &pulumirpc.CreateRequest{
		Urn: urnOf(token, "r"), Type: token, Name: "r", Properties: toWire(t, inputs), Preview: preview,
	})
	if err != nil {
		t.Fatal(err)
	}
	return res, fromWire(t, res.Properties)
}

func doDiff(t *testing.T, p *randomProvider, token string, olds, news resource.PropertyMap, ignore ...string) *pulumirpc.DiffResponse {
	t.Helper()
	res, err := p.Diff(ctx, &pulumirpc.DiffRequest{
		Urn: urnOf(token, "r"), Type: token, Name: "r", Id: "none",
		Olds: toWire(t, olds), News: toWire(t, news), IgnoreChanges: ignore,
	})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func plainString(t *testing.T, m resource.PropertyMap, key string) string {
	t.Helper()
	v, known := plain(m[resource.PropertyKey(key)])
	if !known || !v.IsString() {
		t.Fatalf("%s is not a known string: %v", key, m[resource.PropertyKey(key)])
	}
	return v.StringValue()
}

// isWireSecret reports whether a marshalled value is a secret signature object.
func isWireSecret(v *structpb.Value) bool {
	f := v.GetStructValue().GetFields()
	return f[resource.SigKey].GetStringValue() == resource.SecretSig
}

// ---------------------------------------------------------------------------

func TestCheckFillsDefaults(t *testing.T) {
	p := newTestProvider(t, true)
	got := mustCheck(t, p, passwordToken, props(map[string]any{"length": 32, "special": false}))
	want := props(map[string]any{
		"length": 32, "special": false, "upper": true, "lower": true, "numeric": true, "number": true,
		"minUpper": 0, "minLower": 0, "minNumeric": 0, "minSpecial": 0,
	})
	if !got.DeepEquals(want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
}

func TestCheckNumberIsAnAliasOfNumeric(t *testing.T) {
	p := newTestProvider(t, true)
	for _, key := range []string{"number", "numeric"} {
		got := mustCheck(t, p, passwordToken, props(map[string]any{"length": 8, key: false}))
		if b, _ := getBool(got, "number"); b {
			t.Errorf("%s=false: number is true", key)
		}
		if b, _ := getBool(got, "numeric"); b {
			t.Errorf("%s=false: numeric is true", key)
		}
	}
}

func TestCheckFailures(t *testing.T) {
	p := newTestProvider(t, true)
	cases := []struct {
		name     string
		token    string
		news     map[string]any
		property string
		reason   string
	}{
		{"length zero", passwordToken, map[string]any{"length": 0}, "length", "at least 1"},
		{"length negative", passwordToken, map[string]any{"length": -5}, "length", "at least 1"},
		{"mins exceed length", passwordToken, map[string]any{"length": 4, "minUpper": 3, "minLower": 2}, "length",
			"length (4) must be at least minUpper + minLower + minNumeric + minSpecial (5)"},
		{"mins exceed length (string)", stringToken, map[string]any{"length": 2, "minSpecial": 3}, "length", "(3)"},
		{"negative minimum", passwordToken, map[string]any{"length": 4, "minNumeric": -1}, "minNumeric", "must not be negative"},
		{"missing length", passwordToken, map[string]any{"special": false}, "length", "missing required property"},
		{"number and numeric differ", passwordToken, map[string]any{"length": 4, "number": false, "numeric": true}, "number", "different values"},
		{"empty character set", passwordToken, map[string]any{"length": 4, "upper": false, "lower": false, "numeric": false, "special": false}, "numeric", "at least one of"},
		{"unknown property", passwordToken, map[string]any{"length": 4, "lenght": 5}, "lenght", "unknown property"},
		{"length not a number", passwordToken, map[string]any{"length": "32"}, "length", "expected an integer"},
		{"length not an integer", passwordToken, map[string]any{"length": 3.5}, "length", "expected an integer"},
		{"keepers not strings", passwordToken, map[string]any{"length": 3, "keepers": map[string]any{"a": 1}}, "keepers", "map of strings"},
		{"byteLength zero", randomIDToken, map[string]any{"byteLength": 0}, "byteLength", "at least 1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, failures := doCheck(t, p, tc.token, props(tc.news))
			for _, f := range failures {
				if f.Property == tc.property && strings.Contains(f.Reason, tc.reason) {
					return
				}
			}
			t.Fatalf("want a failure on %q containing %q, got %v", tc.property, tc.reason, failures)
		})
	}
}

func TestCheckAcceptsValidInputs(t *testing.T) {
	p := newTestProvider(t, true)
	for _, news := range []map[string]any{
		{"length": 1},
		{"length": 4, "minUpper": 1, "minLower": 1, "minNumeric": 1, "minSpecial": 1},
		{"length": 4, "upper": false, "lower": false, "numeric": false, "special": true, "overrideSpecial": "#"},
		{"length": 16, "keepers": map[string]any{"rotation": "1"}, "number": true, "numeric": true},
	} {
		if _, failures := doCheck(t, p, passwordToken, props(news)); len(failures) > 0 {
			t.Errorf("%v: unexpected failures %v", news, failures)
		}
	}
}

func TestCheckAllowsUnknownInputs(t *testing.T) {
	p := newTestProvider(t, true)
	news := props(map[string]any{"minUpper": 3})
	news["length"] = resource.MakeComputed(resource.NewStringProperty(""))
	inputs, failures := doCheck(t, p, passwordToken, news)
	if len(failures) > 0 {
		t.Fatalf("unexpected failures: %v", failures)
	}
	if !inputs["length"].IsComputed() {
		t.Fatalf("length should stay unknown, got %v", inputs["length"])
	}
}

// created runs Check and Create as the engine does for a new resource and
// returns the checked inputs and the state.
func created(t *testing.T, p *randomProvider, token string, news map[string]any) (resource.PropertyMap, resource.PropertyMap) {
	t.Helper()
	inputs := mustCheck(t, p, token, props(news))
	_, state := doCreate(t, p, token, inputs, false)
	return inputs, state
}

func TestDiff(t *testing.T) {
	p := newTestProvider(t, true)
	base := map[string]any{"length": 32, "special": false, "keepers": map[string]any{"rotation": "1"}}
	_, state := created(t, p, passwordToken, base)

	with := func(k string, v any) resource.PropertyMap {
		m := map[string]any{}
		for key, val := range base {
			m[key] = val
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return mustCheck(t, p, passwordToken, props(m))
	}

	t.Run("no change", func(t *testing.T) {
		res := doDiff(t, p, passwordToken, state, with("length", 32))
		if res.Changes != pulumirpc.DiffResponse_DIFF_NONE || len(res.Replaces) > 0 {
			t.Fatalf("want DIFF_NONE, got %v", res)
		}
	})
	t.Run("keepers changed", func(t *testing.T) {
		res := doDiff(t, p, passwordToken, state, with("keepers", map[string]any{"rotation": "2"}))
		if res.Changes != pulumirpc.DiffResponse_DIFF_SOME || !slices.Equal(res.Replaces, []string{"keepers"}) {
			t.Fatalf("want a replacement on keepers, got %v", res)
		}
		if res.DeleteBeforeReplace {
			t.Fatal("DeleteBeforeReplace should be false")
		}
		if d := res.DetailedDiff["keepers"]; d == nil || d.Kind != pulumirpc.PropertyDiff_UPDATE_REPLACE || !d.InputDiff {
			t.Fatalf("detailed diff: %v", res.DetailedDiff)
		}
	})
	t.Run("keepers key added", func(t *testing.T) {
		res := doDiff(t, p, passwordToken, state, with("keepers", map[string]any{"rotation": "1", "x": "y"}))
		if !slices.Equal(res.Replaces, []string{"keepers"}) {
			t.Fatalf("want a replacement on keepers, got %v", res)
		}
	})
	t.Run("keepers removed", func(t *testing.T) {
		res := doDiff(t, p, passwordToken, state, with("keepers", nil))
		if d := res.DetailedDiff["keepers"]; d == nil || d.Kind != pulumirpc.PropertyDiff_DELETE_REPLACE {
			t.Fatalf("want DELETE_REPLACE on keepers, got %v", res)
		}
	})
	t.Run("every input replaces", func(t *testing.T) {
		for key, v := range map[string]any{
			"length": 16, "special": true, "upper": false, "lower": false, "numeric": false,
			"minUpper": 1, "minLower": 1, "minNumeric": 1, "minSpecial": 0, "overrideSpecial": "_",
		} {
			if key == "minSpecial" {
				continue // equal to its default: no change
			}
			res := doDiff(t, p, passwordToken, state, with(key, v))
			want := []string{key}
			if key == "numeric" {
				want = []string{"number", "numeric"} // kept in step
			}
			if res.Changes != pulumirpc.DiffResponse_DIFF_SOME || !slices.Equal(res.Replaces, want) {
				t.Errorf("%s: want replacement of %v, got %v", key, want, res)
			}
		}
	})
	t.Run("ignoreChanges", func(t *testing.T) {
		res := doDiff(t, p, passwordToken, state, with("keepers", map[string]any{"rotation": "2"}), "keepers")
		if res.Changes != pulumirpc.DiffResponse_DIFF_NONE {
			t.Fatalf("want DIFF_NONE, got %v", res)
		}
	})
	t.Run("unknown keepers replace", func(t *testing.T) {
		news := with("length", 32)
		news["keepers"] = resource.MakeComputed(resource.NewStringProperty(""))
		res := doDiff(t, p, passwordToken, state, news)
		if !slices.Equal(res.Replaces, []string{"keepers"}) {
			t.Fatalf("want a replacement on keepers, got %v", res)
		}
	})
	t.Run("secret keepers equal plain keepers", func(t *testing.T) {
		news := with("length", 32)
		news["keepers"] = resource.MakeSecret(news["keepers"])
		if res := doDiff(t, p, passwordToken, state, news); res.Changes != pulumirpc.DiffResponse_DIFF_NONE {
			t.Fatalf("want DIFF_NONE, got %v", res)
		}
	})
}

func TestDiffNilAndEmptyKeepersAreEqual(t *testing.T) {
	p := newTestProvider(t, true)
	_, state := created(t, p, passwordToken, map[string]any{"length": 8})
	news := mustCheck(t, p, passwordToken, props(map[string]any{"length": 8, "keepers": map[string]any{}}))
	if res := doDiff(t, p, passwordToken, state, news); res.Changes != pulumirpc.DiffResponse_DIFF_NONE {
		t.Fatalf("want DIFF_NONE, got %v", res)
	}
}

func TestDiffToleratesStateWithoutDefaults(t *testing.T) {
	// A state written without the defaulted properties (e.g. by an older
	// provider) compares equal to checked inputs that spell the defaults out.
	p := newTestProvider(t, true)
	state := props(map[string]any{"length": 8, "result": "abcdefgh", "bcryptHash": "x"})
	news := mustCheck(t, p, passwordToken, props(map[string]any{"length": 8}))
	if res := doDiff(t, p, passwordToken, state, news); res.Changes != pulumirpc.DiffResponse_DIFF_NONE {
		t.Fatalf("want DIFF_NONE, got %v", res)
	}
}

var alnum = regexp.MustCompile(`^[A-Za-z0-9]{32}$`)

func TestCreatePassword(t *testing.T) {
	p := newTestProvider(t, true)
	inputs := mustCheck(t, p, passwordToken, props(map[string]any{
		"length": 32, "special": false, "keepers": map[string]any{"rotation": "1"},
	}))
	res, state := doCreate(t, p, passwordToken, inputs, false)
	if res.Id != "none" {
		t.Fatalf("id %q, want none", res.Id)
	}
	result := plainString(t, state, "result")
	if !alnum.MatchString(result) {
		t.Fatalf("result %q is not 32 alphanumerics", result)
	}
	hash := plainString(t, state, "bcryptHash")
	if err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(result)); err != nil {
		t.Fatalf("bcryptHash does not match result: %v", err)
	}
	for key, v := range inputs {
		if !state[key].DeepEquals(v) {
			t.Errorf("state[%s] = %v, want input %v", key, state[key], v)
		}
	}
}

func TestCreateMarksSecrets(t *testing.T) {
	inputs := props(map[string]any{"length": 32, "special": false})

	p := newTestProvider(t, true)
	res, state := doCreate(t, p, passwordToken, mustCheck(t, p, passwordToken, inputs), false)
	for _, key := range []string{"result", "bcryptHash"} {
		if !isWireSecret(res.Properties.Fields[key]) {
			t.Errorf("%s is not marshalled as a secret: %v", key, res.Properties.Fields[key])
		}
		if !state[resource.PropertyKey(key)].IsSecret() {
			t.Errorf("%s is not a secret", key)
		}
	}
	if isWireSecret(res.Properties.Fields["length"]) {
		t.Error("length should not be secret")
	}

	// An engine that does not accept secrets gets plain values.
	p = newTestProvider(t, false)
	res, _ = doCreate(t, p, passwordToken, mustCheck(t, p, passwordToken, inputs), false)
	if _, ok := res.Properties.Fields["result"].Kind.(*structpb.Value_StringValue); !ok {
		t.Errorf("result should be a plain string without secret support: %v", res.Properties.Fields["result"])
	}

	// Secret inputs stay secret in the outputs.
	p = newTestProvider(t, true)
	in := mustCheck(t, p, passwordToken, inputs)
	in["keepers"] = resource.MakeSecret(resource.NewObjectProperty(props(map[string]any{"k": "v"})))
	_, state = doCreate(t, p, passwordToken, in, false)
	if !state["keepers"].IsSecret() {
		t.Error("secret keepers lost their secretness")
	}
}

func TestCreatePreviewHasUnknownResult(t *testing.T) {
	p := newTestProvider(t, true)
	inputs := mustCheck(t, p, passwordToken, props(map[string]any{"length": 32, "special": false}))
	res, state := doCreate(t, p, passwordToken, inputs, true)
	if res.Id != "" {
		t.Errorf("preview id %q, want empty", res.Id)
	}
	for _, key := range []string{"result", "bcryptHash"} {
		if !state[resource.PropertyKey(key)].IsComputed() {
			t.Errorf("%s should be unknown in a preview, got %v", key, state[resource.PropertyKey(key)])
		}
		if got := res.Properties.Fields[key].GetStringValue(); got != plugin.UnknownStringValue {
			t.Errorf("%s on the wire = %v, want the unknown sentinel", key, res.Properties.Fields[key])
		}
	}
	if n, _ := getInt(state, "length"); n != 32 {
		t.Errorf("preview should echo the inputs, length = %v", state["length"])
	}

	// Unknown inputs are fine in a preview.
	inputs["length"] = resource.MakeComputed(resource.NewStringProperty(""))
	_, state = doCreate(t, p, passwordToken, inputs, true)
	if !state["result"].IsComputed() {
		t.Error("result should be unknown")
	}
}

func TestReadReturnsStateUnchanged(t *testing.T) {
	p := newTestProvider(t, true)
	inputs, state := created(t, p, passwordToken, map[string]any{"length": 20, "keepers": map[string]any{"a": "b"}})
	res, err := p.Read(ctx, &pulumirpc.ReadRequest{
		Id: "none", Urn: urnOf(passwordToken, "r"), Type: passwordToken,
		Properties: toWire(t, state), Inputs: toWire(t, inputs),
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Id != "none" {
		t.Errorf("id %q", res.Id)
	}
	if got := fromWire(t, res.Properties); !got.DeepEquals(state) {
		t.Errorf("state changed:\n got %v\nwant %v", got, state)
	}
	if got := fromWire(t, res.Inputs); !got.DeepEquals(inputs) {
		t.Errorf("inputs changed:\n got %v\nwant %v", got, inputs)
	}

	// A state read back without its secret wrappers gets them again.
	plainState := state.Copy()
	for _, k := range []resource.PropertyKey{"result", "bcryptHash"} {
		plainState[k], _ = plain(plainState[k])
	}
	res, err = p.Read(ctx, &pulumirpc.ReadRequest{
		Id: "none", Urn: urnOf(passwordToken, "r"), Type: passwordToken, Properties: toWire(t, plainState),
	})
	if err != nil {
		t.Fatal(err)
	}
	if !isWireSecret(res.Properties.Fields["result"]) {
		t.Error("result should be secret after Read")
	}
	if got := fromWire(t, res.Inputs); !got.DeepEquals(inputs) {
		t.Errorf("inputs derived from state:\n got %v\nwant %v", got, inputs)
	}
}

func TestReadImportsPassword(t *testing.T) {
	p := newTestProvider(t, true)
	res, err := p.Read(ctx, &pulumirpc.ReadRequest{Id: "s3cr3t!", Urn: urnOf(passwordToken, "r"), Type: passwordToken})
	if err != nil {
		t.Fatal(err)
	}
	state := fromWire(t, res.Properties)
	if res.Id != "none" || plainString(t, state, "result") != "s3cr3t!" || !state["result"].IsSecret() {
		t.Fatalf("import: id %q state %v", res.Id, state)
	}
	if n, _ := getInt(state, "length"); n != 7 {
		t.Errorf("length %v", state["length"])
	}
	if err := bcrypt.CompareHashAndPassword([]byte(plainString(t, state, "bcryptHash")), []byte("s3cr3t!")); err != nil {
		t.Error(err)
	}
	inputs := fromWire(t, res.Inputs)
	if _, ok := inputs["result"]; ok {
		t.Error("imported inputs should not contain result")
	}
	// The imported inputs check cleanly and diff as unchanged.
	checked := mustCheck(t, p, passwordToken, inputs)
	if d := doDiff(t, p, passwordToken, state, checked); d.Changes != pulumirpc.DiffResponse_DIFF_NONE {
		t.Errorf("imported state diffs: %v", d)
	}
}

func TestUpdateKeepsGeneratedValues(t *testing.T) {
	p := newTestProvider(t, true)
	_, state := created(t, p, passwordToken, map[string]any{"length": 12})
	news := mustCheck(t, p, passwordToken, props(map[string]any{"length": 12, "keepers": map[string]any{"a": "b"}}))
	res, err := p.Update(ctx, &pulumirpc.UpdateRequest{
		Id: "none", Urn: urnOf(passwordToken, "r"), Type: passwordToken, Olds: toWire(t, state), News: toWire(t, news),
	})
	if err != nil {
		t.Fatal(err)
	}
	got := fromWire(t, res.Properties)
	if plainString(t, got, "result") != plainString(t, state, "result") || !got["result"].IsSecret() {
		t.Fatalf("result not kept: %v", got)
	}
	if !got["keepers"].DeepEquals(news["keepers"]) {
		t.Fatalf("keepers not updated: %v", got)
	}
}

func TestDeleteIsANoOp(t *testing.T) {
	p := newTestProvider(t, true)
	_, state := created(t, p, passwordToken, map[string]any{"length": 12})
	for _, token := range []string{passwordToken, "random:index/randomPet:RandomPet"} {
		if _, err := p.Delete(ctx, &pulumirpc.DeleteRequest{
			Id: "none", Urn: urnOf(token, "r"), Type: token, Properties: toWire(t, state),
		}); err != nil {
			t.Errorf("%s: %v", token, err)
		}
	}
}

func TestRandomString(t *testing.T) {
	p := newTestProvider(t, true)
	inputs := mustCheck(t, p, stringToken, props(map[string]any{
		"length": 10, "upper": false, "special": false, "minNumeric": 4,
	}))
	res, state := doCreate(t, p, stringToken, inputs, false)
	result := plainString(t, state, "result")
	if res.Id != result {
		t.Errorf("id %q, want the result %q", res.Id, result)
	}
	if state["result"].IsSecret() || isWireSecret(res.Properties.Fields["result"]) {
		t.Error("RandomString's result should not be secret")
	}
	if len(result) != 10 || !allIn(result, lowerChars+numericChars) || countIn(result, numericChars) < 4 {
		t.Errorf("result %q", result)
	}
	if _, ok := state["bcryptHash"]; ok {
		t.Error("RandomString has no bcryptHash")
	}
}

func TestRandomID(t *testing.T) {
	p := newTestProvider(t, true)
	inputs := mustCheck(t, p, randomIDToken, props(map[string]any{"byteLength": 8, "prefix": "p-"}))
	res, state := doCreate(t, p, randomIDToken, inputs, false)
	raw, err := base64.RawURLEncoding.DecodeString(res.Id)
	if err != nil || len(raw) != 8 {
		t.Fatalf("id %q: %v", res.Id, err)
	}
	if got := plainString(t, state, "hex"); got != "p-"+hex.EncodeToString(raw) {
		t.Errorf("hex %q", got)
	}
	if got := plainString(t, state, "b64Url"); got != "p-"+res.Id {
		t.Errorf("b64Url %q", got)
	}
	if got := plainString(t, state, "b64Std"); got != "p-"+base64.StdEncoding.EncodeToString(raw) {
		t.Errorf("b64Std %q", got)
	}

	// Import by "prefix,b64url" rebuilds the same state.
	read, err := p.Read(ctx, &pulumirpc.ReadRequest{Id: "p-," + res.Id, Urn: urnOf(randomIDToken, "r"), Type: randomIDToken})
	if err != nil {
		t.Fatal(err)
	}
	if read.Id != res.Id {
		t.Errorf("imported id %q, want %q", read.Id, res.Id)
	}
	imported := fromWire(t, read.Properties)
	for _, k := range []resource.PropertyKey{"hex", "dec", "b64Std", "b64Url", "byteLength", "prefix"} {
		if !imported[k].DeepEquals(state[k]) {
			t.Errorf("imported %s = %v, want %v", k, imported[k], state[k])
		}
	}
}

func TestUnknownResourceType(t *testing.T) {
	p := newTestProvider(t, true)
	const token = "random:index/randomPet:RandomPet"
	_, err := p.Check(ctx, &pulumirpc.CheckRequest{Urn: urnOf(token, "r"), News: toWire(t, props(map[string]any{}))})
	if err == nil || !strings.Contains(err.Error(), "RandomPet") {
		t.Fatalf("want an unknown type error, got %v", err)
	}
}

func TestPluginInfoAndSchema(t *testing.T) {
	p := newTestProvider(t, true)
	info, err := p.GetPluginInfo(ctx, &emptypb.Empty{})
	if err != nil || info.Version != "4.21.1" {
		t.Fatalf("GetPluginInfo: %v %v", info, err)
	}
	res, err := p.GetSchema(ctx, &pulumirpc.GetSchemaRequest{Version: 0})
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		Name      string `json:"name"`
		Version   string `json:"version"`
		Resources map[string]struct {
			Properties map[string]struct {
				Type   string `json:"type"`
				Secret bool   `json:"secret"`
			} `json:"properties"`
			InputProperties map[string]struct {
				Type string `json:"type"`
			} `json:"inputProperties"`
			Required       []string `json:"required"`
			RequiredInputs []string `json:"requiredInputs"`
		} `json:"resources"`
	}
	if err := json.Unmarshal([]byte(res.Schema), &schema); err != nil {
		t.Fatalf("schema is not JSON: %v", err)
	}
	if schema.Name != "random" || schema.Version != "4.21.1" {
		t.Fatalf("name %q version %q", schema.Name, schema.Version)
	}
	pw, ok := schema.Resources[passwordToken]
	if !ok {
		t.Fatalf("no %s in %v", passwordToken, schema.Resources)
	}
	if !pw.Properties["result"].Secret || !pw.Properties["bcryptHash"].Secret || pw.Properties["length"].Secret {
		t.Error("result and bcryptHash (only) should be secret")
	}
	if !slices.Equal(pw.RequiredInputs, []string{"length"}) {
		t.Errorf("requiredInputs %v", pw.RequiredInputs)
	}
	if _, ok := pw.InputProperties["result"]; ok {
		t.Error("result is not an input")
	}
	if pw.InputProperties["keepers"].Type != "object" || pw.InputProperties["length"].Type != "integer" {
		t.Errorf("input types: %v", pw.InputProperties)
	}
	if !slices.Contains(pw.Required, "result") || !slices.Contains(pw.Required, "numeric") {
		t.Errorf("required %v", pw.Required)
	}
	if _, ok := schema.Resources[stringToken].Properties["result"]; !ok || schema.Resources[stringToken].Properties["result"].Secret {
		t.Error("RandomString result should exist and not be secret")
	}
	if _, err := p.GetSchema(ctx, &pulumirpc.GetSchemaRequest{SubpackageName: "x"}); err == nil {
		t.Error("a sub-package request should fail")
	}
}

// TestGRPCRoundTrip serves the provider over an in-memory gRPC connection, as
// provider.Main registers it, and drives a create through the client stubs.
func TestGRPCRoundTrip(t *testing.T) {
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	pulumirpc.RegisterResourceProviderServer(srv, newProvider(nil, "4.21.1"))
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)

	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(context.Context, string) (net.Conn, error) { return lis.Dial() }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	client := pulumirpc.NewResourceProviderClient(conn)

	hs, err := client.Handshake(ctx, &pulumirpc.ProviderHandshakeRequest{})
	if err != nil || !hs.AcceptSecrets {
		t.Fatalf("Handshake: %v %v", hs, err)
	}
	if _, err := client.Configure(ctx, &pulumirpc.ConfigureRequest{AcceptSecrets: true}); err != nil {
		t.Fatal(err)
	}
	chk, err := client.Check(ctx, &pulumirpc.CheckRequest{
		Urn: urnOf(passwordToken, "pw"), Type: passwordToken,
		News: toWire(t, props(map[string]any{"length": 32, "special": false})),
	})
	if err != nil || len(chk.Failures) > 0 {
		t.Fatalf("Check: %v %v", chk, err)
	}
	cr, err := client.Create(ctx, &pulumirpc.CreateRequest{Urn: urnOf(passwordToken, "pw"), Type: passwordToken, Properties: chk.Inputs})
	if err != nil {
		t.Fatal(err)
	}
	if !isWireSecret(cr.Properties.Fields["result"]) {
		t.Fatal("result should be a secret on the wire")
	}
	if r := plainString(t, fromWire(t, cr.Properties), "result"); !alnum.MatchString(r) {
		t.Fatalf("result %q", r)
	}
	if _, err := client.Cancel(ctx, &emptypb.Empty{}); err != nil {
		t.Fatal(err)
	}
}
