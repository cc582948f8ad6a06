// Command pulumi-language-python is this project's minimal stand-in for the
// Pulumi Python language host.
//
// Why it exists: the upstream host is its own Go module
// (github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3), which is
// never tagged, and the module proxy reachable from our build machines serves no
// version of it (see docs/toolchain.md). Everything it needs to do for
// `pulumi preview/up/destroy/refresh` is small: serve the LanguageRuntime gRPC
// API and, on Run, start the `pulumi-language-python-exec` script shipped in the
// github.com/pulumi/pulumi/sdk/v3 module (copied next to this binary by
// tools/bootstrap.sh) with the project's Python toolchain (pip/venv, uv or
// poetry, resolved by the SDK's python/toolchain package).
//
// Not implemented (the engine copes, or the feature is unused here): plugin
// discovery from installed packages (plugins are installed ahead of time by
// tools/bootstrap.sh), code generation, packing, linking and type checkers.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	"github.com/pulumi/pulumi/sdk/v3/go/common/version"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"github.com/pulumi/pulumi/sdk/v3/python/toolchain"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

// Exit code the exec script uses after it has already shown the user an error.
const bailExitCode = 32

func main() {
	// The engine starts plugins as `NAME [-flag[=value]...] ENGINE_ADDRESS`.
	// Flags (-root, -tracing, ...) are not needed here; the engine address is
	// the last positional argument (newer engines also send it via Handshake).
	engineAddress := ""
	for _, a := range os.Args[1:] {
		if !strings.HasPrefix(a, "-") {
			engineAddress = a
		}
	}

	execScript, err := findExecScript()
	if err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-python: %v\n", err)
		os.Exit(1)
	}

	host := &languageHost{engineAddress: engineAddress, execScript: execScript}
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel: stopOnSignal(),
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, host)
			return nil
		},
		Options: rpcutil.OpenTracingServerInterceptorOptions(nil),
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-python: could not start RPC server: %v\n", err)
		os.Exit(1)
	}
	// Tell the engine where to reach us, then serve until it is done with us.
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-python: RPC server stopped: %v\n", err)
		os.Exit(1)
	}
}

// stopOnSignal returns a channel that is closed on the first SIGINT or SIGTERM, for
// the server to stop serving and the host to exit. The CLI stops a plugin with
// SIGINT and kills it only 5 s later; a host started by a parent that ignores
// SIGINT (a job run with `&` or `nohup` from a script, many CI runners) inherits
// the ignored disposition and would sit out those 5 s on every command. Notify
// installs a handler even for a signal ignored at startup, and the Python program
// the host starts then inherits the default disposition instead of the ignored one,
// so Ctrl-C reaches it too. The official host does the same
// (signal.NotifyContext(ctx, os.Interrupt) in sdk/python/cmd/pulumi-language-python).
func stopOnSignal() chan bool {
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	stop := make(chan bool)
	go func() {
		<-signals
		close(stop)
	}()
	return stop
}

// findExecScript returns pulumi-language-python-exec from the directory of
// this binary's resolved path (like the upstream host, it does not search PATH).
func findExecScript() (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	if resolved, err := filepath.EvalSymlinks(self); err == nil {
		self = resolved
	}
	script := filepath.Join(filepath.Dir(self), "pulumi-language-python-exec")
	if _, err := os.Stat(script); err != nil {
		return "", fmt.Errorf("%s not found next to the language host (run tools/bootstrap.sh)", script)
	}
	return script, nil
}

type languageHost struct {
	pulumirpc.UnimplementedLanguageRuntimeServer

	mu            sync.Mutex
	engineAddress string
	execScript    string
}

func (h *languageHost) Handshake(ctx context.Context,
	req *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if req.GetEngineAddress() != "" {
		h.engineAddress = req.GetEngineAddress()
	}
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *languageHost) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version.Version}, nil
}

// Plugins are installed ahead of time (tools/bootstrap.sh); the engine loads
// the exact version each resource asks for when the program registers it.
func (h *languageHost) GetRequiredPlugins(context.Context,
	*pulumirpc.GetRequiredPluginsRequest,
) (*pulumirpc.GetRequiredPluginsResponse, error) {
	return &pulumirpc.GetRequiredPluginsResponse{}, nil
}

func (h *languageHost) GetRequiredPackages(context.Context,
	*pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	return &pulumirpc.GetRequiredPackagesResponse{}, nil
}

func (h *languageHost) RuntimeOptionsPrompts(context.Context,
	*pulumirpc.RuntimeOptionsRequest,
) (*pulumirpc.RuntimeOptionsResponse, error) {
	return &pulumirpc.RuntimeOptionsResponse{}, nil
}

func (h *languageHost) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

// pythonToolchain resolves the project's Python (runtime options `toolchain`
// and `virtualenv` from Pulumi.yaml, relative to the project root).
func pythonToolchain(info *pulumirpc.ProgramInfo) (toolchain.Toolchain, error) {
	opts := toolchain.PythonOptions{
		Root:       info.GetRootDirectory(),
		ProgramDir: info.GetProgramDirectory(),
		Toolchain:  toolchain.Auto,
	}
	if o := info.GetOptions(); o != nil {
		m := o.AsMap()
		if v, ok := m["virtualenv"].(string); ok {
			opts.Virtualenv = v
		}
		if v, ok := m["toolchain"].(string); ok {
			switch v {
			case "pip":
				opts.Toolchain = toolchain.Pip
			case "uv":
				opts.Toolchain = toolchain.Uv
			case "poetry":
				opts.Toolchain = toolchain.Poetry
			default:
				return nil, fmt.Errorf("unsupported python toolchain %q", v)
			}
		}
	}
	if opts.Root == "" {
		opts.Root = opts.ProgramDir
	}
	return toolchain.ResolveToolchain(opts)
}

func (h *languageHost) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	tc, err := pythonToolchain(req.GetInfo())
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}

	h.mu.Lock()
	engine := h.engineAddress
	h.mu.Unlock()

	var args []string
	add := func(k, v string) {
		if v != "" {
			args = append(args, "--"+k, v)
		}
	}
	add("monitor", req.GetMonitorAddress())
	add("engine", engine)
	add("project", req.GetProject())
	add("root_directory", req.GetInfo().GetRootDirectory())
	add("stack", req.GetStack())
	add("pwd", req.GetPwd())
	add("dry_run", fmt.Sprintf("%v", req.GetDryRun()))
	add("parallel", fmt.Sprint(req.GetParallel()))
	add("organization", req.GetOrganization())
	program := req.GetInfo().GetEntryPoint()
	if program == "" {
		program = req.GetProgram()
	}
	if program == "" {
		program = "."
	}
	if dir := req.GetInfo().GetProgramDirectory(); dir != "" && !filepath.IsAbs(program) {
		program = filepath.Join(dir, program)
	}
	args = append(args, program)
	args = append(args, req.GetArgs()...)

	cmd, err := tc.Command(ctx, append([]string{"-u", h.execScript}, args...)...)
	if err != nil {
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("could not find Python: %v", err)}, nil
	}
	// Always valid JSON objects/arrays: the SDK iterates them ("null" breaks it).
	config := req.GetConfig()
	if config == nil {
		config = map[string]string{}
	}
	secretKeyList := req.GetConfigSecretKeys()
	if secretKeyList == nil {
		secretKeyList = []string{}
	}
	cfg, err := json.Marshal(config)
	if err != nil {
		return nil, err
	}
	secretKeys, err := json.Marshal(secretKeyList)
	if err != nil {
		return nil, err
	}
	cmd.Env = append(cmd.Environ(),
		"PULUMI_CONFIG="+string(cfg),
		"PULUMI_CONFIG_SECRET_KEYS="+string(secretKeys))
	if req.GetPwd() != "" {
		cmd.Dir = req.GetPwd()
	}
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr

	if err := cmd.Run(); err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			if exitErr.ExitCode() == bailExitCode {
				return &pulumirpc.RunResponse{Bail: true}, nil
			}
			return &pulumirpc.RunResponse{
				Error: fmt.Sprintf("Program exited with non-zero exit code: %d", exitErr.ExitCode()),
			}, nil
		}
		return &pulumirpc.RunResponse{
			Error: fmt.Sprintf("Problem executing program (could not run language executor): %v", err),
		}, nil
	}
	return &pulumirpc.RunResponse{}, nil
}

// InstallDependencies backs `pulumi install` and Automation API installs.
func (h *languageHost) InstallDependencies(req *pulumirpc.InstallDependenciesRequest,
	server pulumirpc.LanguageRuntime_InstallDependenciesServer,
) error {
	tc, err := pythonToolchain(req.GetInfo())
	if err != nil {
		return err
	}
	stdout := &streamWriter{send: func(b []byte) error {
		return server.Send(&pulumirpc.InstallDependenciesResponse{Stdout: b})
	}}
	stderr := &streamWriter{send: func(b []byte) error {
		return server.Send(&pulumirpc.InstallDependenciesResponse{Stderr: b})
	}}
	dir := req.GetInfo().GetProgramDirectory()
	if dir == "" {
		dir = req.GetDirectory()
	}
	return tc.InstallDependencies(server.Context(), dir, req.GetUseLanguageVersionTools(),
		true /*showOutput*/, stdout, stderr)
}

// aboutScript prints the interpreter's path and version, one a line.
const aboutScript = "import sys; print(sys.executable); print('%d.%d.%d' % sys.version_info[:3])"

// About describes the project's Python. The CLI asks before every preview and
// update (for the update's metadata) and waits for the answer, so it costs one
// interpreter start; the toolchain's own About would start three, one of them
// `python -m pip --version`, whose answer this response has no field for.
func (h *languageHost) About(ctx context.Context, req *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	tc, err := pythonToolchain(req.GetInfo())
	if err != nil {
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	}
	cmd, err := tc.Command(ctx, "-c", aboutScript)
	if err != nil {
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	}
	out, err := cmd.Output()
	if err != nil {
		return nil, status.Errorf(codes.FailedPrecondition, "could not run %s: %v", cmd.Path, err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 2 {
		return nil, status.Errorf(codes.FailedPrecondition, "unexpected output of %s: %q", cmd.Path, out)
	}
	return &pulumirpc.AboutResponse{
		Executable: strings.TrimSpace(lines[0]),
		Version:    strings.TrimSpace(lines[1]),
	}, nil
}

func (h *languageHost) GetProgramDependencies(ctx context.Context,
	req *pulumirpc.GetProgramDependenciesRequest,
) (*pulumirpc.GetProgramDependenciesResponse, error) {
	tc, err := pythonToolchain(req.GetInfo())
	if err != nil {
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	}
	pkgs, err := tc.ListPackages(ctx, req.GetTransitiveDependencies())
	if err != nil {
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	}
	deps := make([]*pulumirpc.DependencyInfo, 0, len(pkgs))
	for _, p := range pkgs {
		deps = append(deps, &pulumirpc.DependencyInfo{Name: p.Name, Version: p.Version})
	}
	return &pulumirpc.GetProgramDependenciesResponse{Dependencies: deps}, nil
}

// streamWriter forwards whatever is written to a gRPC stream.
type streamWriter struct {
	mu   sync.Mutex
	send func([]byte) error
}

func (w *streamWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.send(bytes.Clone(p)); err != nil {
		return 0, err
	}
	return len(p), nil
}

var _ io.Writer = (*streamWriter)(nil)
