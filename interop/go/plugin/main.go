// Command plugin is a VM plugin written in Go with grpc-go that behaves like a plugin built
// for avalanchego or luxd (rpcchainvm): it finds the node's runtime engine address in its
// environment, serves vm.VM and grpc.health.v1.Health on 127.0.0.1:0, reports its address and
// protocol version with /vm.runtime.Runtime/Initialize, and stops when the node says so.
//
// Test knobs (read from the environment; see README.md): GO_PLUGIN_PROTOCOL, GO_PLUGIN_MODE,
// GO_PLUGIN_DELAY_MS, GO_PLUGIN_EXIT_CODE, GO_PLUGIN_ORPHAN_EXIT.
package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"google.golang.org/grpc"

	healthpb "vmre/gen/grpc/health/v1"
	vmpb "vmre/gen/vm"
	runtimepb "vmre/gen/vm/runtime"
	"vmre/interop/internal/wire"
)

const (
	defaultProtocol  = 45
	handshakeTimeout = 5 * time.Second
	stopTimeout      = 5 * time.Second
)

// The engine address variables, in the order they are looked up.
var engineAddrVars = []string{
	"LUX_VM_RUNTIME_ENGINE_ADDR",
	"VM_RUNTIME_ENGINE_ADDR",
	"AVALANCHE_VM_RUNTIME_ENGINE_ADDR",
}

var log = &wire.Logger{Out: os.Stdout, Err: os.Stderr}

func main() {
	os.Exit(run())
}

func run() int {
	varName, engineAddr := lookupEngineAddr()
	if engineAddr == "" {
		fmt.Fprintf(os.Stderr, "required env var missing: %q\n", "AVALANCHE_VM_RUNTIME_ENGINE_ADDR")
		return 1
	}

	mode := os.Getenv("GO_PLUGIN_MODE")
	if mode == "" {
		mode = "normal"
	}
	switch mode {
	case "normal", "never-handshake", "crash-before-handshake", "exit-after-handshake", "ignore-sigterm", "bad-addr":
	default:
		log.Error("unknown GO_PLUGIN_MODE", "mode", mode)
		return 1
	}
	protocol, err := envUint("GO_PLUGIN_PROTOCOL", defaultProtocol)
	if err != nil {
		log.Error("bad GO_PLUGIN_PROTOCOL", "error", err)
		return 1
	}
	delay, err := envUint("GO_PLUGIN_DELAY_MS", 0)
	if err != nil {
		log.Error("bad GO_PLUGIN_DELAY_MS", "error", err)
		return 1
	}
	exitCode, err := envUint("GO_PLUGIN_EXIT_CODE", 0)
	if err != nil || exitCode > 255 {
		log.Error("bad GO_PLUGIN_EXIT_CODE", "value", os.Getenv("GO_PLUGIN_EXIT_CODE"))
		return 1
	}
	if os.Getenv("GO_PLUGIN_ORPHAN_EXIT") != "0" {
		go exitWhenOrphaned()
	}

	log.InfoErr("runtime engine address", "env", varName, "engine", engineAddr, "mode", mode, "protocol", protocol)

	if mode == "crash-before-handshake" {
		log.Error("vm factory failed, crashing on purpose", "mode", mode)
		panic("boom") // the Go runtime prints "panic: boom" and a stack trace, and exits 2
	}

	// A plugin built on the upstream Serve ignores SIGINT and SIGTERM until the node has called
	// Shutdown. never-handshake models a plugin stuck before Serve: it keeps the default
	// handlers, so SIGTERM kills it.
	signals := make(chan os.Signal, 4)
	if mode != "never-handshake" {
		signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	}

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Error("cannot listen", "error", err)
		return 1
	}
	addr := lis.Addr().String()
	vm := newChainVM()
	server := grpc.NewServer(wire.ServerOptions()...)
	vmpb.RegisterVMServer(server, vm)
	healthpb.RegisterHealthServer(server, wire.Health{})
	serveDone := make(chan error, 1)
	go func() { serveDone <- server.Serve(lis) }()
	log.Info("plugin started", "addr", addr, "pid", os.Getpid())

	if delay > 0 {
		time.Sleep(time.Duration(delay) * time.Millisecond)
	}

	if mode == "never-handshake" {
		log.Warn("not calling the runtime engine", "mode", mode)
		select {} // until killed
	}

	reported := addr
	if mode == "bad-addr" {
		reported = "10.1.2.3:80"
	}
	start := time.Now()
	if err := handshake(engineAddr, uint32(protocol), reported); err != nil {
		log.Error("runtime initialize failed", "engine", engineAddr, "error", err)
		server.Stop()
		return 1
	}
	log.Info("runtime handshake done", "protocol", protocol, "addr", reported, "took", time.Since(start).Round(time.Microsecond))

	if mode == "exit-after-handshake" {
		log.Warn("exiting right after the handshake", "mode", mode, "code", exitCode)
		return int(exitCode)
	}

	for {
		select {
		case err := <-serveDone:
			if err != nil {
				log.Error("grpc server failed", "error", err)
				return 1
			}
			return 0
		case sig := <-signals:
			switch {
			case mode == "ignore-sigterm":
				log.Warn("ignoring signal", "signal", sig, "mode", mode)
			case !vm.shutdownCalled():
				log.Warn("ignoring signal until the node calls Shutdown", "signal", sig)
			default:
				log.Info("stopping", "signal", sig)
				gracefulStop(server)
				log.Info("plugin stopped")
				return 0
			}
		}
	}
}

// lookupEngineAddr returns the first engine address variable that is set and not empty.
func lookupEngineAddr() (string, string) {
	for _, name := range engineAddrVars {
		if v := os.Getenv(name); v != "" {
			return name, v
		}
	}
	return "", ""
}

func handshake(engineAddr string, protocol uint32, addr string) error {
	ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
	defer cancel()
	conn, err := grpc.DialContext(ctx, engineAddr, wire.DialOptions()...)
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = runtimepb.NewRuntimeClient(conn).Initialize(ctx, &runtimepb.InitializeRequest{
		ProtocolVersion: protocol,
		Addr:            addr,
	})
	return err
}

func gracefulStop(server *grpc.Server) {
	done := make(chan struct{})
	go func() { server.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(stopTimeout):
		log.Warn("graceful stop timed out, closing connections")
		server.Stop()
	}
}

// exitWhenOrphaned ends the process when its parent dies (it is then re-parented), so that a
// test run that is killed does not leave plugins behind, including those that ignore SIGTERM.
func exitWhenOrphaned() {
	parent := os.Getppid()
	for range time.Tick(250 * time.Millisecond) {
		if os.Getppid() != parent {
			log.Error("parent process is gone, exiting", "parent", parent)
			os.Exit(1)
		}
	}
}

func envUint(name string, def uint64) (uint64, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	return strconv.ParseUint(v, 10, 32)
}
