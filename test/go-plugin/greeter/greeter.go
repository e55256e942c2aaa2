// Package greeter is the tiny gRPC service the interop tests call across go-plugin:
// wirecall.interop.Greeter/Greet, a google.protobuf.StringValue in and out (a message
// every protobuf runtime already has, so no code generation is needed), written here
// as a hand-made grpc.ServiceDesc.
package greeter

import (
	"context"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Service and method names, the same in the TypeScript and Python peers.
const (
	ServiceName = "wirecall.interop.Greeter"
	GreetMethod = "/" + ServiceName + "/Greet"
	// PluginName is the name the host dispenses.
	PluginName = "greeter"
)

// Greeter is what the plugin implements and the host calls.
type Greeter interface {
	Greet(ctx context.Context, name string) (string, error)
}

type greeterServer interface {
	Greeter
}

func greetHandler(srv interface{}, ctx context.Context, dec func(interface{}) error, _ grpc.UnaryServerInterceptor) (interface{}, error) {
	in := new(wrapperspb.StringValue)
	if err := dec(in); err != nil {
		return nil, err
	}
	out, err := srv.(greeterServer).Greet(ctx, in.GetValue())
	if err != nil {
		return nil, err
	}
	return wrapperspb.String(out), nil
}

var serviceDesc = grpc.ServiceDesc{
	ServiceName: ServiceName,
	HandlerType: (*greeterServer)(nil),
	Methods:     []grpc.MethodDesc{{MethodName: "Greet", Handler: greetHandler}},
	Streams:     []grpc.StreamDesc{},
	Metadata:    "wirecall/interop/greeter",
}

// Plugin is the go-plugin GRPCPlugin for the Greeter: Impl is set on the plugin side.
type Plugin struct {
	plugin.NetRPCUnsupportedPlugin
	Impl Greeter
}

// GRPCServer registers the Greeter on the plugin's gRPC server.
func (p *Plugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	s.RegisterService(&serviceDesc, p.Impl)
	return nil
}

// GRPCClient gives the host a Greeter that calls across the connection.
func (p *Plugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (interface{}, error) {
	return &client{conn: c}, nil
}

type client struct{ conn *grpc.ClientConn }

func (c *client) Greet(ctx context.Context, name string) (string, error) {
	out := new(wrapperspb.StringValue)
	if err := c.conn.Invoke(ctx, GreetMethod, wrapperspb.String(name), out); err != nil {
		return "", err
	}
	return out.GetValue(), nil
}
