package main

import (
	"context"
	"fmt"
	"sort"
	"sync/atomic"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/provider"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// randomProvider implements the ResourceProvider gRPC service for the
// `random` package. It holds no configuration and no remote state: every
// resource lives entirely in the Pulumi state.
type randomProvider struct {
	pulumirpc.UnimplementedResourceProviderServer

	host    *provider.HostClient // nil when started in attach mode; unused
	version string
	// acceptSecrets is set when the engine says (Handshake/Configure) that it
	// understands strongly typed secrets; only then are secrets returned.
	acceptSecrets atomic.Bool
}

var _ pulumirpc.ResourceProviderServer = (*randomProvider)(nil)

func newProvider(host *provider.HostClient, version string) *randomProvider {
	return &randomProvider{host: host, version: version}
}

// ---------------------------------------------------------------------------
// Plugin-level calls

func (p *randomProvider) Handshake(
	_ context.Context, _ *pulumirpc.ProviderHandshakeRequest,
) (*pulumirpc.ProviderHandshakeResponse, error) {
	p.acceptSecrets.Store(true)
	return &pulumirpc.ProviderHandshakeResponse{AcceptSecrets: true}, nil
}

func (p *randomProvider) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: p.version}, nil
}

func (p *randomProvider) GetSchema(_ context.Context, req *pulumirpc.GetSchemaRequest) (*pulumirpc.GetSchemaResponse, error) {
	if req.GetSubpackageName() != "" {
		return nil, status.Errorf(codes.InvalidArgument, "package %q has no sub-packages (asked for %q)",
			providerName, req.GetSubpackageName())
	}
	s, err := packageSchema(p.version)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "building schema: %v", err)
	}
	return &pulumirpc.GetSchemaResponse{Schema: s}, nil
}

// CheckConfig accepts any provider configuration (the package has none).
func (p *randomProvider) CheckConfig(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	return &pulumirpc.CheckResponse{Inputs: req.GetNews()}, nil
}

// DiffConfig reports no change: no configuration affects any resource.
func (p *randomProvider) DiffConfig(context.Context, *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE}, nil
}

func (p *randomProvider) Configure(_ context.Context, req *pulumirpc.ConfigureRequest) (*pulumirpc.ConfigureResponse, error) {
	p.acceptSecrets.Store(req.GetAcceptSecrets())
	return &pulumirpc.ConfigureResponse{AcceptSecrets: true, SupportsPreview: true}, nil
}

func (p *randomProvider) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

func (p *randomProvider) GetMapping(context.Context, *pulumirpc.GetMappingRequest) (*pulumirpc.GetMappingResponse, error) {
	return &pulumirpc.GetMappingResponse{}, nil
}

func (p *randomProvider) GetMappings(context.Context, *pulumirpc.GetMappingsRequest) (*pulumirpc.GetMappingsResponse, error) {
	return &pulumirpc.GetMappingsResponse{}, nil
}

// ---------------------------------------------------------------------------
// Resource calls

func (p *randomProvider) resourceType(typ, urn string) (*resourceType, error) {
	if typ == "" {
		typ = string(resource.URN(urn).Type())
	}
	rt, ok := resourceTypes[typ]
	if !ok {
		return nil, status.Errorf(codes.InvalidArgument, "unknown resource type %q (this stand-in random provider "+
			"implements %s)", typ, implementedTypes())
	}
	return rt, nil
}

func implementedTypes() string {
	var names []string
	for t := range resourceTypes {
		names = append(names, t)
	}
	sort.Strings(names)
	return fmt.Sprint(names)
}

func unmarshal(s *structpb.Struct, label string) (resource.PropertyMap, error) {
	m, err := plugin.UnmarshalProperties(s, plugin.MarshalOptions{
		Label:        label,
		KeepUnknowns: true,
		KeepSecrets:  true,
		SkipNulls:    true,
	})
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "%s: %v", label, err)
	}
	return m, nil
}

func (p *randomProvider) marshal(m resource.PropertyMap, label string) (*structpb.Struct, error) {
	s, err := plugin.MarshalProperties(m, plugin.MarshalOptions{
		Label:        label,
		KeepUnknowns: true,
		KeepSecrets:  p.acceptSecrets.Load(),
	})
	if err != nil {
		return nil, status.Errorf(codes.Internal, "%s: %v", label, err)
	}
	return s, nil
}

// markSecrets wraps the resource's secret outputs (result, bcryptHash) as
// secrets, in place. Unknowns are left as they are.
func markSecrets(rt *resourceType, m resource.PropertyMap) {
	for _, name := range rt.secretOutputs() {
		v, ok := m[resource.PropertyKey(name)]
		if !ok || v.IsNull() || v.IsComputed() || isSecret(v) {
			continue
		}
		m[resource.PropertyKey(name)] = resource.MakeSecret(v)
	}
}

func (p *randomProvider) Check(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	rt, err := p.resourceType(req.GetType(), req.GetUrn())
	if err != nil {
		return nil, err
	}
	news, err := unmarshal(req.GetNews(), "check.news")
	if err != nil {
		return nil, err
	}
	inputs, failures := rt.check(news)
	out, err := p.marshal(inputs, "check.inputs")
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CheckResponse{Inputs: out, Failures: failures}, nil
}

func (p *randomProvider) Diff(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	rt, err := p.resourceType(req.GetType(), req.GetUrn())
	if err != nil {
		return nil, err
	}
	olds, err := unmarshal(req.GetOlds(), "diff.olds")
	if err != nil {
		return nil, err
	}
	news, err := unmarshal(req.GetNews(), "diff.news")
	if err != nil {
		return nil, err
	}
	changes := rt.diff(olds, news, req.GetIgnoreChanges())
	if len(changes) == 0 {
		return &pulumirpc.DiffResponse{
			Changes:         pulumirpc.DiffResponse_DIFF_NONE,
			DetailedDiff:    map[string]*pulumirpc.PropertyDiff{},
			HasDetailedDiff: true,
		}, nil
	}
	keys := make([]string, 0, len(changes))
	for k := range changes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return &pulumirpc.DiffResponse{
		Changes:             pulumirpc.DiffResponse_DIFF_SOME,
		Replaces:            keys,
		Diffs:               keys,
		DetailedDiff:        changes,
		HasDetailedDiff:     true,
		DeleteBeforeReplace: false,
	}, nil
}

func (p *randomProvider) Create(_ context.Context, req *pulumirpc.CreateRequest) (*pulumirpc.CreateResponse, error) {
	rt, err := p.resourceType(req.GetType(), req.GetUrn())
	if err != nil {
		return nil, err
	}
	inputs, err := unmarshal(req.GetProperties(), "create.properties")
	if err != nil {
		return nil, err
	}
	outs := inputs.Copy()
	if failures := rt.applyDefaults(outs); len(failures) > 0 {
		return nil, status.Errorf(codes.InvalidArgument, "%s: %s", failures[0].Property, failures[0].Reason)
	}

	if req.GetPreview() {
		// Nothing is generated during a preview: every generated property is
		// unknown, so no plaintext value can appear in a plan.
		for _, o := range rt.outputs {
			outs[resource.PropertyKey(o.name)] = resource.MakeComputed(resource.NewStringProperty(""))
		}
		s, err := p.marshal(outs, "create.preview")
		if err != nil {
			return nil, err
		}
		return &pulumirpc.CreateResponse{Properties: s}, nil
	}

	if outs.ContainsUnknowns() {
		return nil, status.Errorf(codes.InvalidArgument, "cannot create %s with unknown inputs", req.GetUrn())
	}
	if failures := rt.validateKnown(outs); len(failures) > 0 {
		return nil, status.Errorf(codes.InvalidArgument, "%s: %s", failures[0].Property, failures[0].Reason)
	}
	id, generated, err := rt.generate(outs)
	if err != nil {
		return nil, status.Errorf(codes.Unknown, "generating %s: %v", req.GetUrn(), err)
	}
	for k, v := range generated {
		outs[k] = v
	}
	markSecrets(rt, outs)
	s, err := p.marshal(outs, "create.outputs")
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CreateResponse{Id: id, Properties: s}, nil
}

// Read returns the stored state unchanged (there is nothing outside the state
// to read), with the secret outputs kept secret. With no stored state it is
// an import: the state is rebuilt from the ID as upstream does.
func (p *randomProvider) Read(_ context.Context, req *pulumirpc.ReadRequest) (*pulumirpc.ReadResponse, error) {
	rt, err := p.resourceType(req.GetType(), req.GetUrn())
	if err != nil {
		return nil, err
	}
	state, err := unmarshal(req.GetProperties(), "read.properties")
	if err != nil {
		return nil, err
	}
	id := req.GetId()
	var inputs resource.PropertyMap
	if len(state) == 0 {
		if id, state, err = rt.importState(req.GetId()); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "%v", err)
		}
		inputs = rt.inputsOf(state)
	} else if req.GetInputs() != nil {
		if inputs, err = unmarshal(req.GetInputs(), "read.inputs"); err != nil {
			return nil, err
		}
	} else {
		inputs = rt.inputsOf(state)
	}
	markSecrets(rt, state)
	props, err := p.marshal(state, "read.properties")
	if err != nil {
		return nil, err
	}
	ins, err := p.marshal(inputs, "read.inputs")
	if err != nil {
		return nil, err
	}
	return &pulumirpc.ReadResponse{Id: id, Properties: props, Inputs: ins}, nil
}

// Update is never planned (every input change replaces the resource). If it is
// called anyway, the new inputs are stored with the generated values kept,
// which is what upstream's Update does.
func (p *randomProvider) Update(_ context.Context, req *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	rt, err := p.resourceType(req.GetType(), req.GetUrn())
	if err != nil {
		return nil, err
	}
	olds, err := unmarshal(req.GetOlds(), "update.olds")
	if err != nil {
		return nil, err
	}
	news, err := unmarshal(req.GetNews(), "update.news")
	if err != nil {
		return nil, err
	}
	outs := news.Copy()
	_ = rt.applyDefaults(outs)
	for _, o := range rt.outputs {
		if v, ok := olds[resource.PropertyKey(o.name)]; ok {
			outs[resource.PropertyKey(o.name)] = v
		}
	}
	markSecrets(rt, outs)
	s, err := p.marshal(outs, "update.outputs")
	if err != nil {
		return nil, err
	}
	return &pulumirpc.UpdateResponse{Properties: s}, nil
}

// Delete has nothing to do: the resource exists only in the state.
// It succeeds for any type, so that a stack holding a random resource this
// stand-in does not implement can still be destroyed.
func (p *randomProvider) Delete(context.Context, *pulumirpc.DeleteRequest) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}
