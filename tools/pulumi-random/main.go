// Command pulumi-resource-random is a stand-in for the upstream pulumi-random
// resource provider plugin (github.com/pulumi/pulumi-random), which cannot be
// built on machines whose Go module proxy does not serve it or the Terraform
// bridge it depends on. It speaks the Pulumi ResourceProvider gRPC protocol and
// implements RandomPassword, RandomString and RandomId with the semantics of
// terraform-provider-random v3.9.0 (the version bridged by pulumi-random
// 4.21.1). See README.md.
package main

import (
	"fmt"
	"os"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/provider"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// version is reported by GetPluginInfo and GetSchema. Override it with
// -ldflags "-X main.version=...".
var version = "4.21.1"

func main() {
	err := provider.Main(providerName, func(host *provider.HostClient) (pulumirpc.ResourceProviderServer, error) {
		return newProvider(host, version), nil
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", providerName, err)
		os.Exit(1)
	}
}
