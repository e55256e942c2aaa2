// A go-plugin plugin serving the Greeter over gRPC, for the wirecall host's interop
// tests. The magic cookie comes from flags (default: wirecall's DEFAULT_HANDSHAKE), so
// one binary serves any test's cookie.
package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/hashicorp/go-plugin"
	"wirecall.test/goplugin/greeter"
)

type impl struct{}

func (impl) Greet(_ context.Context, name string) (string, error) {
	return fmt.Sprintf("hello, %s, from go-plugin", name), nil
}

func main() {
	key := flag.String("cookie-key", "WIRECALL_PLUGIN", "magic cookie key")
	value := flag.String("cookie-value", "d3f1c0a2-wirecall-plugin-v1", "magic cookie value")
	flag.Parse()
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: plugin.HandshakeConfig{ProtocolVersion: 1, MagicCookieKey: *key, MagicCookieValue: *value},
		Plugins:         plugin.PluginSet{greeter.PluginName: &greeter.Plugin{Impl: impl{}}},
		GRPCServer:      plugin.DefaultGRPCServer,
	})
}
