package main

import (
	"errors"
	"os/exec"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// RunPlugin runs a plugin written in Python, such as a CrossGuard policy pack
// (`pulumi preview --policy-pack DIR`): `python DIR ARGS...` with the plugin's
// own toolchain (the `virtualenv` of its PulumiPolicy.yaml runtime options), in
// the engine's working directory and environment, unbuffered, its output
// streamed back.
func (h *languageHost) RunPlugin(
	req *pulumirpc.RunPluginRequest, server pulumirpc.LanguageRuntime_RunPluginServer,
) error {
	closer, stdout, stderr, err := rpcutil.MakeRunPluginStreams(server, false)
	if err != nil {
		return err
	}
	defer closer.Close()

	tc, err := pythonToolchain(req.GetInfo())
	if err != nil {
		return err
	}
	args := append([]string{req.GetInfo().GetProgramDirectory()}, req.GetArgs()...)
	cmd, err := tc.Command(server.Context(), args...)
	if err != nil {
		return err
	}
	cmd.Dir = req.GetPwd()
	// Unbuffered: a policy pack tells the engine its port on stdout, a pipe, which
	// Python buffers by the block; without this the engine waits for the port until
	// its own timeout whenever the user's environment does not set it.
	cmd.Env = append(req.GetEnv(), "PYTHONUNBUFFERED=1")
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Run(); err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			return server.Send(&pulumirpc.RunPluginResponse{
				Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: int32(exitErr.ExitCode())},
			})
		}
		return err
	}
	return closer.Close()
}
