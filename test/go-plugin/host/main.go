// A go-plugin host for the interop tests: launches the plugin command given after the
// flags with AllowedProtocols grpc (AutoMTLS with -automtls), pings it, dispenses the
// Greeter, calls it, kills the plugin (GRPCController/Shutdown, then go-plugin's own
// 2 s escalation) and prints one JSON object with the results and timings.
//
//	go-plugin-host [-automtls] [-runs N] [-name NAME] [-cookie-key K -cookie-value V] -- command args...
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"wirecall.test/goplugin/greeter"
)

type run struct {
	Protocol          string  `json:"protocol"`
	Version           int     `json:"version"`
	Ping              bool    `json:"ping"`
	Reply             string  `json:"reply"`
	HandshakeMs       float64 `json:"handshakeMs"`
	LaunchToFirstCall float64 `json:"launchToFirstCallMs"`
	KillMs            float64 `json:"killMs"`
	Graceful          bool    `json:"graceful"`
	Exited            bool    `json:"exited"`
	PluginStdout      string  `json:"pluginStdout"`
	PluginStderr      string  `json:"pluginStderr"`
}

type report struct {
	AutoMTLS                bool    `json:"autoMTLS"`
	Runs                    []run   `json:"runs"`
	MedianLaunchToFirstCall float64 `json:"medianLaunchToFirstCallMs"`
	Error                   string  `json:"error,omitempty"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func once(cmd []string, cfg plugin.HandshakeConfig, autoMTLS bool, name string, verbose bool) (run, error) {
	var r run
	var logs, stdout, stderr bytes.Buffer
	var logOut io.Writer = &logs
	if verbose {
		logOut = io.MultiWriter(&logs, os.Stderr)
	}
	logger := hclog.New(&hclog.LoggerOptions{Name: "go-plugin-host", Output: logOut, Level: hclog.Debug})
	start := time.Now()
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  cfg,
		Plugins:          plugin.PluginSet{greeter.PluginName: &greeter.Plugin{}},
		Cmd:              exec.Command(cmd[0], cmd[1:]...),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         autoMTLS,
		Logger:           logger,
		SyncStdout:       &stdout,
		SyncStderr:       &stderr,
		StartTimeout:     20 * time.Second,
	})
	defer client.Kill()
	rpc, err := client.Client()
	if err != nil {
		return r, fmt.Errorf("start: %w\n%s", err, logs.String())
	}
	r.HandshakeMs = ms(time.Since(start))
	r.Protocol = string(client.Protocol())
	r.Version = client.NegotiatedVersion()
	raw, err := rpc.Dispense(greeter.PluginName)
	if err != nil {
		return r, fmt.Errorf("dispense: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r.Reply, err = raw.(greeter.Greeter).Greet(ctx, name)
	if err != nil {
		return r, fmt.Errorf("greet: %w\n%s", err, logs.String())
	}
	r.LaunchToFirstCall = ms(time.Since(start))
	r.Ping = rpc.Ping() == nil
	killStart := time.Now()
	client.Kill()
	r.KillMs = ms(time.Since(killStart))
	r.Exited = client.Exited()
	r.Graceful = !strings.Contains(logs.String(), "plugin failed to exit gracefully")
	r.PluginStdout = stdout.String()
	r.PluginStderr = stderr.String()
	return r, nil
}

func main() {
	autoMTLS := flag.Bool("automtls", false, "negotiate mutual TLS (go-plugin AutoMTLS)")
	runs := flag.Int("runs", 1, "launch the plugin this many times (timings)")
	name := flag.String("name", "wirecall", "the name to greet")
	key := flag.String("cookie-key", "WIRECALL_PLUGIN", "magic cookie key")
	value := flag.String("cookie-value", "d3f1c0a2-wirecall-plugin-v1", "magic cookie value")
	verbose := flag.Bool("v", false, "copy go-plugin's log to stderr")
	flag.Parse()
	out := json.NewEncoder(os.Stdout)
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: go-plugin-host [flags] -- command args...")
		os.Exit(2)
	}
	cfg := plugin.HandshakeConfig{ProtocolVersion: 1, MagicCookieKey: *key, MagicCookieValue: *value}
	rep := report{AutoMTLS: *autoMTLS, Runs: []run{}}
	for i := 0; i < *runs; i++ {
		r, err := once(flag.Args(), cfg, *autoMTLS, *name, *verbose)
		if err != nil {
			rep.Error = err.Error()
			_ = out.Encode(rep)
			os.Exit(1)
		}
		rep.Runs = append(rep.Runs, r)
	}
	times := make([]float64, len(rep.Runs))
	for i, r := range rep.Runs {
		times[i] = r.LaunchToFirstCall
	}
	sort.Float64s(times)
	rep.MedianLaunchToFirstCall = times[len(times)/2]
	_ = out.Encode(rep)
	plugin.CleanupClients()
}
