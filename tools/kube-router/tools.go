//go:build tools

// The wrapper builds github.com/cloudnativelabs/kube-router/v2/cmd/kube-router
// with this module's pinned requirements (tools/bootstrap.sh tool_kube_router).
package tools

import _ "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router"
