// Command host is a minimal Go "node" for rpcchainvm plugins, written with grpc-go: it serves
// vm.runtime.Runtime on 127.0.0.1:0, launches a plugin the way avalanchego and luxd do, waits
// for its handshake, talks to its vm.VM service, stops it, and prints ONE JSON line on stdout
// describing what happened. Everything else (its own log and the plugin's output, prefixed
// with "[plugin] ") goes to stderr.
//
//	host [-protocol 45] [-exercise] [-env KEY=VALUE]... <plugin> [args...]
//
// The nodes start a plugin without arguments; args (none by default) exist so that tests can
// launch an interpreter, e.g. `host node_modules/.bin/node examples/vm/main.ts`.
//
// Exit status: 0 ok, 1 launch or other failure, 2 usage, 3 protocol version mismatch,
// 4 handshake failed (timeout, or the plugin exited first), 5 a VM call failed,
// 6 the plugin did not stop cleanly (needed SIGKILL, or exited non-zero).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"

	healthpb "vmre/gen/grpc/health/v1"
	vmpb "vmre/gen/vm"
	runtimepb "vmre/gen/vm/runtime"
	"vmre/interop/internal/wire"
)

var engineAddrVars = []string{
	"LUX_VM_RUNTIME_ENGINE_ADDR",
	"VM_RUNTIME_ENGINE_ADDR",
	"AVALANCHE_VM_RUNTIME_ENGINE_ADDR",
}

const (
	exitOK        = 0
	exitFailure   = 1
	exitUsage     = 2
	exitMismatch  = 3
	exitHandshake = 4
	exitVMCall    = 5
	exitStop      = 6
)

var log = &wire.Logger{Out: os.Stderr, Err: os.Stderr}

// result is the JSON line printed on stdout. Durations are milliseconds.
type result struct {
	OK                  bool            `json:"ok"`
	Error               string          `json:"error,omitempty"`
	Stage               string          `json:"stage,omitempty"` // where it failed: launch, handshake, health, version, exercise, shutdown, stop
	NodeProtocolVersion uint32          `json:"nodeProtocolVersion"`
	ProtocolVersion     *uint32         `json:"protocolVersion"` // as reported by the plugin; null without a handshake
	EngineAddr          string          `json:"engineAddr,omitempty"`
	VMAddr              string          `json:"vmAddr,omitempty"`
	Pid                 int             `json:"pid,omitempty"`
	HandshakeMs         *float64        `json:"handshakeMs"` // spawn → Initialize received
	Health              string          `json:"health,omitempty"`
	HealthMs            *float64        `json:"healthMs,omitempty"` // first call: includes connecting
	Version             string          `json:"version,omitempty"`
	VersionMs           *float64        `json:"versionMs,omitempty"` // first Version round trip
	VersionRounds       int             `json:"versionRounds,omitempty"`
	VersionMedianMs     *float64        `json:"versionMedianMs,omitempty"`
	Exercise            *exercise       `json:"exercise,omitempty"`
	Bootstrap           *bootstrapReport `json:"bootstrap,omitempty"`
	HTTP                []httpResult    `json:"http,omitempty"`
	Callbacks           *callbackReport `json:"callbacks,omitempty"`
	ShutdownMs          *float64        `json:"shutdownMs,omitempty"`
	StopMs              *float64        `json:"stopMs,omitempty"` // SIGTERM → exit
	Killed              bool            `json:"killed"`           // needed SIGKILL
	ExitCode            *int            `json:"exitCode"`         // null when ended by a signal or never started
	Signal              string          `json:"signal,omitempty"`
	TotalMs             float64         `json:"totalMs"`
}

type envFlags []string

func (e *envFlags) String() string { return strings.Join(*e, ",") }
func (e *envFlags) Set(v string) error {
	if !strings.Contains(v, "=") || strings.HasPrefix(v, "=") {
		return fmt.Errorf("want KEY=VALUE, got %q", v)
	}
	*e = append(*e, v)
	return nil
}

type options struct {
	protocol         uint
	exercise         bool
	httpCalls        httpCalls
	handshakeTimeout time.Duration
	callTimeout      time.Duration
	stopTimeout      time.Duration
	rounds           int
	networkID        uint
	genesisFile      string
	bootstrapFile    string
	bootstrapBatch   int
	configFile       string
	env              envFlags
	plugin           string
	args             []string
}

func main() {
	var o options
	flag.UintVar(&o.protocol, "protocol", 45, "rpcchainvm protocol version the plugin must report (exact match)")
	flag.BoolVar(&o.exercise, "exercise", false, "after the handshake run Initialize, SetState(NORMAL_OP), BuildBlock, BlockVerify, BlockAccept, GetBlock, GetBlockIDAtHeight, Health")
	flag.DurationVar(&o.handshakeTimeout, "handshake-timeout", 5*time.Second, "how long to wait for the plugin's Initialize")
	flag.DurationVar(&o.callTimeout, "call-timeout", 5*time.Second, "deadline of each VM call")
	flag.DurationVar(&o.stopTimeout, "stop-timeout", 5*time.Second, "how long to wait after SIGTERM before SIGKILL")
	flag.IntVar(&o.rounds, "rounds", 1, "number of Version calls (for the round-trip median)")
	flag.UintVar(&o.networkID, "network-id", 12345, "network id sent by -exercise Initialize")
	flag.StringVar(&o.genesisFile, "genesis", "", "file whose bytes -exercise sends as genesis (default: a short text)")
	flag.StringVar(&o.bootstrapFile, "bootstrap", "", "after -exercise's Initialize, apply this file's blocks (4-byte big-endian length + bytes each, in height order) as a bootstrapping node does, instead of the rest of the exercise")
	flag.IntVar(&o.bootstrapBatch, "bootstrap-batch", 2000, "blocks per BatchedParseBlock of -bootstrap")
	flag.StringVar(&o.configFile, "config", "", "file whose bytes -exercise sends as config (default: none)")
	flag.Var(&o.httpCalls, "http", "after -exercise, CreateHandlers and one HTTP call MODE:METHOD:PATH[:BODY] (MODE simple or stream; repeatable)")
	flag.Var(&o.env, "env", "extra KEY=VALUE for the plugin's environment (repeatable)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: %s [flags] <plugin> [args...]\n", os.Args[0])
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() < 1 || o.rounds < 1 || o.protocol > 1<<32-1 || o.bootstrapBatch < 1 {
		flag.Usage()
		os.Exit(exitUsage)
	}
	o.plugin, o.args = flag.Arg(0), flag.Args()[1:]

	res := &result{NodeProtocolVersion: uint32(o.protocol)}
	code := run(o, res)
	res.OK = code == exitOK
	line, _ := json.Marshal(res)
	os.Stdout.Write(append(line, '\n'))
	os.Exit(code)
}

func ms(d time.Duration) *float64 {
	v := float64(d.Microseconds()) / 1000
	return &v
}

func fail(res *result, stage string, code int, err error) int {
	if res.Error == "" {
		res.Error, res.Stage = err.Error(), stage
	}
	log.Error("failed", "stage", stage, "error", err)
	return code
}

func run(o options, res *result) (code int) {
	begin := time.Now()
	defer func() { res.TotalMs = *ms(time.Since(begin)) }()

	// The runtime engine: serves vm.runtime.Runtime until the first Initialize.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(res, "launch", exitFailure, err)
	}
	res.EngineAddr = lis.Addr().String()
	engine := &runtimeEngine{want: uint32(o.protocol), results: make(chan handshake, 1)}
	runtimeServer := grpc.NewServer(wire.ServerOptions()...)
	runtimepb.RegisterRuntimeServer(runtimeServer, engine)
	healthpb.RegisterHealthServer(runtimeServer, wire.Health{})
	go runtimeServer.Serve(lis)
	defer runtimeServer.Stop()

	p, err := launch(o, res.EngineAddr)
	if err != nil {
		return fail(res, "launch", exitFailure, err)
	}
	res.Pid = p.cmd.Process.Pid
	log.Info("plugin launched", "path", o.plugin, "pid", res.Pid, "engine", res.EngineAddr)

	// Whatever happens next, the plugin is stopped and its exit recorded.
	dataDir := ""
	defer func() {
		if stopCode := p.stop(o.stopTimeout, res); code == exitOK {
			code = stopCode
		}
		p.drain(time.Second)
		if dataDir != "" {
			os.RemoveAll(dataDir)
		}
	}()

	// Handshake.
	var hs handshake
	select {
	case hs = <-engine.results:
	case <-p.exited:
		return fail(res, "handshake", exitHandshake, fmt.Errorf("handshake failed: vm process exited before the handshake (%s)", p.describeExit()))
	case <-time.After(o.handshakeTimeout):
		return fail(res, "handshake", exitHandshake, errors.New("handshake failed: timeout"))
	}
	res.HandshakeMs = ms(hs.at.Sub(p.started))
	v := hs.protocol
	res.ProtocolVersion = &v
	res.VMAddr = hs.addr
	// Stop the runtime server gracefully so that the answer to Initialize is delivered.
	stopped := make(chan struct{})
	go func() { runtimeServer.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(time.Second):
	}
	if hs.err != nil {
		return fail(res, "handshake", exitMismatch, fmt.Errorf("handshake failed: %v", hs.err))
	}
	log.Info("handshake done", "protocol", hs.protocol, "vm", hs.addr, "took", time.Duration(*res.HandshakeMs*1e6))

	// The VM.
	conn, err := grpc.Dial(hs.addr, wire.DialOptions()...)
	if err != nil {
		return fail(res, "health", exitVMCall, err)
	}
	defer conn.Close()
	vm := vmpb.NewVMClient(conn)
	// The stop sequence begins with Shutdown even when something failed on the way (runs
	// before conn.Close and the SIGTERM; fail-fast, so a dead VM does not delay the stop).
	shutdownCalled := false
	defer func() {
		if !shutdownCalled {
			ctx, cancel := context.WithTimeout(context.Background(), o.callTimeout)
			defer cancel()
			if _, err := vm.Shutdown(ctx, &emptypb.Empty{}); err != nil {
				log.Warn("Shutdown failed", "error", err)
			}
		}
	}()

	// Health fails fast (no WaitForReady), like the nodes' health checks.
	t := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), o.callTimeout)
	hr, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	cancel()
	if err != nil {
		return fail(res, "health", exitVMCall, fmt.Errorf("health check: %v", err))
	}
	res.HealthMs, res.Health = ms(time.Since(t)), hr.GetStatus().String()
	if hr.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return fail(res, "health", exitVMCall, fmt.Errorf("health check: status %s", hr.GetStatus()))
	}

	// Version, possibly several times for a round-trip figure.
	var rtts []time.Duration
	for i := 0; i < o.rounds; i++ {
		t := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), o.callTimeout)
		vr, err := vm.Version(ctx, &emptypb.Empty{}, grpc.WaitForReady(true))
		cancel()
		if err != nil {
			return fail(res, "version", exitVMCall, fmt.Errorf("Version: %v", err))
		}
		rtts = append(rtts, time.Since(t))
		res.Version = vr.GetVersion()
	}
	res.VersionMs = ms(rtts[0])
	log.Info("vm version", "version", res.Version, "rtt", rtts[0])
	if o.rounds > 1 {
		sort.Slice(rtts, func(i, j int) bool { return rtts[i] < rtts[j] })
		res.VersionRounds, res.VersionMedianMs = o.rounds, ms(rtts[len(rtts)/2])
	}

	var exerciseErr error
	var cb *callbacks
	if o.exercise {
		cb = newCallbacks(uint32(o.networkID), label("vmre go host chain"), label("vmre go host node")[:20], blsG1Generator)
		node, err := startNodeServices(cb)
		if err != nil {
			return fail(res, "exercise", exitFailure, err)
		}
		defer node.stop()
		if dataDir, err = os.MkdirTemp("", "vmre-go-host-"); err != nil {
			return fail(res, "exercise", exitFailure, err)
		}
		res.Exercise, exerciseErr = runExercise(vm, o, node.addr, dataDir)
		if exerciseErr == nil && o.bootstrapFile != "" {
			res.Bootstrap, exerciseErr = runBootstrap(vm, o)
		} else if exerciseErr == nil {
			exerciseErr = askStatus(vm, o, cb)
		}
		if exerciseErr == nil && len(o.httpCalls) > 0 {
			res.HTTP, exerciseErr = runHTTPCalls(vm, o)
		}
	}

	if cb != nil {
		// Callbacks the VM forks (a warp signature after an accept) get a moment to arrive.
		accepted := res.Exercise != nil && res.Exercise.BlockAccept != nil && res.Exercise.BlockAccept.Error == ""
		for deadline := time.Now().Add(2 * time.Second); accepted && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if r := cb.snapshot(); r.WarpSign+r.WarpRefused > 0 {
				break
			}
		}
		report := cb.snapshot()
		res.Callbacks = &report
	}

	// Shutdown, then the stop sequence (deferred above).
	t = time.Now()
	ctx, cancel = context.WithTimeout(context.Background(), o.callTimeout)
	_, err = vm.Shutdown(ctx, &emptypb.Empty{}, grpc.WaitForReady(true))
	cancel()
	shutdownCalled = true
	if exerciseErr != nil {
		return fail(res, "exercise", exitVMCall, exerciseErr)
	}
	if err != nil {
		return fail(res, "shutdown", exitVMCall, fmt.Errorf("Shutdown: %v", err))
	}
	res.ShutdownMs = ms(time.Since(t))
	return exitOK
}

// --- runtime engine ----------------------------------------------------------------------

type handshake struct {
	protocol uint32
	addr     string
	at       time.Time
	err      error
}

type runtimeEngine struct {
	runtimepb.UnimplementedRuntimeServer
	want    uint32
	mu      sync.Mutex
	done    bool
	results chan handshake
}

// Initialize takes the first call only and requires the node's protocol version exactly.
// A mismatch is answered with an error (gRPC status UNKNOWN) naming both versions.
func (e *runtimeEngine) Initialize(_ context.Context, req *runtimepb.InitializeRequest) (*emptypb.Empty, error) {
	at := time.Now()
	e.mu.Lock()
	first := !e.done
	e.done = true
	e.mu.Unlock()
	if !first {
		return nil, errors.New("runtime already initialized")
	}
	var err error
	if req.GetProtocolVersion() != e.want {
		err = fmt.Errorf("protocol version mismatch node: %d vm: %d", e.want, req.GetProtocolVersion())
	}
	e.results <- handshake{protocol: req.GetProtocolVersion(), addr: req.GetAddr(), at: at, err: err}
	if err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

// --- the plugin process ------------------------------------------------------------------

type process struct {
	cmd     *exec.Cmd
	started time.Time
	exited  chan struct{} // closed once the process has been reaped
	copied  sync.WaitGroup
}

// launch starts the plugin like the Go nodes do: no arguments, stdin /dev/null, stdout and
// stderr piped, parent-death signal SIGTERM, and an environment that holds only the engine
// address (under all three names), the parent's GRPC_* and GODEBUG* variables, and -env.
func launch(o options, engineAddr string) (*process, error) {
	env := make([]string, 0, 8)
	for _, name := range engineAddrVars {
		env = append(env, name+"="+engineAddr)
	}
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "GRPC_") || strings.HasPrefix(kv, "GODEBUG") {
			env = append(env, kv)
		}
	}
	env = append(env, o.env...)

	cmd := exec.Command(o.plugin, o.args...)
	cmd.Env = env
	cmd.Stdin = nil // /dev/null
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	// Our own pipes (not cmd.StdoutPipe) so that reaping the process does not wait for EOF.
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = outW, errW
	p := &process{cmd: cmd, exited: make(chan struct{})}
	p.started = time.Now()
	err = cmd.Start()
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return nil, err
	}
	var mu sync.Mutex
	for _, r := range []*os.File{outR, errR} {
		p.copied.Add(1)
		go func(r *os.File) {
			defer p.copied.Done()
			defer r.Close()
			copyLines(r, &mu)
		}(r)
	}
	go func() {
		cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// copyLines copies the plugin's output to our stderr, one "[plugin] " prefixed line at a time.
func copyLines(r io.Reader, mu *sync.Mutex) {
	br := bufio.NewReaderSize(r, 64*1024)
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			if !strings.HasSuffix(line, "\n") {
				line += "\n"
			}
			mu.Lock()
			io.WriteString(os.Stderr, "[plugin] "+line)
			mu.Unlock()
		}
		if err != nil {
			return
		}
	}
}

func (p *process) describeExit() string {
	st := p.cmd.ProcessState
	if st == nil {
		return "running"
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return "signal " + ws.Signal().String()
	}
	return fmt.Sprintf("exit code %d", st.ExitCode())
}

// stop sends SIGTERM, waits up to timeout, then SIGKILLs; it records how the plugin ended.
func (p *process) stop(timeout time.Duration, res *result) int {
	select {
	case <-p.exited:
	default:
		t := time.Now()
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
			res.StopMs = ms(time.Since(t))
		case <-time.After(timeout):
			log.Warn("plugin still running after SIGTERM, killing it", "waited", timeout)
			p.cmd.Process.Kill()
			<-p.exited
			res.Killed = true
			res.StopMs = ms(time.Since(t))
		}
	}
	st := p.cmd.ProcessState
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		res.Signal = ws.Signal().String()
	} else {
		c := st.ExitCode()
		res.ExitCode = &c
	}
	log.Info("plugin stopped", "how", p.describeExit(), "killed", res.Killed)
	switch {
	case res.Killed:
		return fail(res, "stop", exitStop, fmt.Errorf("plugin did not exit within %v of SIGTERM and was killed", timeout))
	case res.ExitCode == nil:
		return fail(res, "stop", exitStop, fmt.Errorf("plugin ended by %s", res.Signal))
	case *res.ExitCode != 0:
		return fail(res, "stop", exitStop, fmt.Errorf("plugin exited with code %d", *res.ExitCode))
	}
	return exitOK
}

// drain waits (briefly: a grandchild may hold the pipes) until the output has been copied.
func (p *process) drain(timeout time.Duration) {
	done := make(chan struct{})
	go func() { p.copied.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(timeout):
	}
}
