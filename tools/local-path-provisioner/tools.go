//go:build tools

// The wrapper builds github.com/rancher/local-path-provisioner
// with this module's pinned requirements (tools/bootstrap.sh tool_local_path_provisioner).
package tools

import _ "github.com/rancher/local-path-provisioner"
