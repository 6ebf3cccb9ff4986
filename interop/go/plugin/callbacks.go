package main

// With GO_PLUGIN_CALLBACKS=<file>, Initialize calls every node service at server_addr, as a VM
// built for avalanchego does (subnet id, validator sets, heights, aliases, a warp signature,
// app messages), writes what it got to <file> as JSON, and fails Initialize, loudly, if a
// service is missing or answers wrongly.

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"

	aliasreaderpb "vmre/gen/aliasreader"
	appsenderpb "vmre/gen/appsender"
	healthpb "vmre/gen/grpc/health/v1"
	sharedmemorypb "vmre/gen/sharedmemory"
	validatorstatepb "vmre/gen/validatorstate"
	vmpb "vmre/gen/vm"
	warppb "vmre/gen/warp"
	"vmre/interop/internal/wire"
)

type callbackReport struct {
	SubnetID           string   `json:"subnetId"`
	CurrentHeight      uint64   `json:"currentHeight"`
	MinimumHeight      uint64   `json:"minimumHeight"`
	Validators         []string `json:"validators"`
	ValidatorKeyIsOurs bool     `json:"validatorKeyIsOurs"`
	WarpSets           int      `json:"warpSets"`
	WarpTotalWeight    uint64   `json:"warpTotalWeight"`
	CurrentSetHeight   uint64   `json:"currentSetHeight"`
	Aliases            []string `json:"aliases"`
	PrimaryAliasError  string   `json:"primaryAliasError"`
	LookupError        string   `json:"lookupError"`
	Signature          string   `json:"signature"`
	WrongChainError    string   `json:"wrongChainError"`
	WrongNetworkError  string   `json:"wrongNetworkError"`
	Health             string   `json:"health"`
	AppGossipSent      bool     `json:"appGossipSent"`
	AppRequestSent     bool     `json:"appRequestSent"`
	SharedApplied      bool     `json:"sharedApplied"`
	SharedGetError     string   `json:"sharedGetError"`
	// With GO_PLUGIN_CALLBACK_ROUNDS=N: N sequential round trips of each kind (Warp.Sign: N/20).
	Rounds map[string]roundTrips `json:"rounds,omitempty"`
}

type roundTrips struct {
	Calls          int     `json:"calls"`
	MedianMs       float64 `json:"medianMs"`
	P90Ms          float64 `json:"p90Ms"`
	CallsPerSecond float64 `json:"callsPerSecond"`
}

func atLeast(min, n int) int {
	if n < min {
		return min
	}
	return n
}

// timeCalls makes n sequential calls after one warm-up call.
func timeCalls(n int, call func() error) (roundTrips, error) {
	if err := call(); err != nil {
		return roundTrips{}, err
	}
	latencies := make([]float64, n)
	start := time.Now()
	for i := range latencies {
		t := time.Now()
		if err := call(); err != nil {
			return roundTrips{}, err
		}
		latencies[i] = float64(time.Since(t).Microseconds()) / 1000
	}
	total := time.Since(start).Seconds()
	sort.Float64s(latencies)
	return roundTrips{Calls: n, MedianMs: latencies[n/2], P90Ms: latencies[n*9/10], CallsPerSecond: float64(n) / total}, nil
}

func callNodeServices(req *vmpb.InitializeRequest, out string) error {
	conn, err := grpc.Dial(req.GetServerAddr(), wire.DialOptions()...)
	if err != nil {
		return fmt.Errorf("dial server_addr: %w", err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var r callbackReport

	vs := validatorstatepb.NewValidatorStateClient(conn)
	subnet, err := vs.GetSubnetID(ctx, &validatorstatepb.GetSubnetIDRequest{ChainId: req.GetChainId()})
	if err != nil {
		return fmt.Errorf("validatorstate.GetSubnetID: %w", err)
	}
	r.SubnetID = hex.EncodeToString(subnet.GetSubnetId())
	cur, err := vs.GetCurrentHeight(ctx, &emptypb.Empty{})
	if err != nil {
		return fmt.Errorf("validatorstate.GetCurrentHeight: %w", err)
	}
	r.CurrentHeight = cur.GetHeight()
	min, err := vs.GetMinimumHeight(ctx, &emptypb.Empty{})
	if err != nil {
		return fmt.Errorf("validatorstate.GetMinimumHeight: %w", err)
	}
	r.MinimumHeight = min.GetHeight()
	set, err := vs.GetValidatorSet(ctx, &validatorstatepb.GetValidatorSetRequest{Height: r.CurrentHeight, SubnetId: subnet.GetSubnetId()})
	if err != nil {
		return fmt.Errorf("validatorstate.GetValidatorSet: %w", err)
	}
	for _, v := range set.GetValidators() {
		r.Validators = append(r.Validators, fmt.Sprintf("%s:%d", hex.EncodeToString(v.GetNodeId()), v.GetWeight()))
		if bytes.Equal(v.GetNodeId(), req.GetNodeId()) && len(v.GetPublicKey()) == 96 && len(req.GetPublicKey()) == 48 {
			// The compressed key's x coordinate is the uncompressed key's first 48 bytes, flag bits aside.
			x := append([]byte{}, req.GetPublicKey()...)
			x[0] &= 0x1f
			r.ValidatorKeyIsOurs = bytes.Equal(x, v.GetPublicKey()[:48])
		}
	}
	warpSets, err := vs.GetWarpValidatorSets(ctx, &validatorstatepb.GetWarpValidatorSetsRequest{Height: r.CurrentHeight})
	if err != nil {
		return fmt.Errorf("validatorstate.GetWarpValidatorSets: %w", err)
	}
	r.WarpSets = len(warpSets.GetValidatorSets())
	if r.WarpSets > 0 {
		r.WarpTotalWeight = warpSets.GetValidatorSets()[0].GetTotalWeight()
	}
	current, err := vs.GetCurrentValidatorSet(ctx, &validatorstatepb.GetCurrentValidatorSetRequest{SubnetId: subnet.GetSubnetId()})
	if err != nil {
		return fmt.Errorf("validatorstate.GetCurrentValidatorSet: %w", err)
	}
	r.CurrentSetHeight = current.GetCurrentHeight()

	ar := aliasreaderpb.NewAliasReaderClient(conn)
	aliases, err := ar.Aliases(ctx, &aliasreaderpb.ID{Id: req.GetChainId()})
	if err != nil {
		return fmt.Errorf("aliasreader.Aliases: %w", err)
	}
	r.Aliases = aliases.GetAliases()
	if _, err := ar.PrimaryAlias(ctx, &aliasreaderpb.ID{Id: req.GetChainId()}); err != nil {
		r.PrimaryAliasError = err.Error()
	}
	if _, err := ar.Lookup(ctx, &aliasreaderpb.Alias{Alias: "no-such-alias"}); err != nil {
		r.LookupError = err.Error()
	}

	signer := warppb.NewSignerClient(conn)
	signed, err := signer.Sign(ctx, &warppb.SignRequest{NetworkId: req.GetNetworkId(), SourceChainId: req.GetChainId(), Payload: []byte("hello warp")})
	if err != nil {
		return fmt.Errorf("warp.Signer.Sign: %w", err)
	}
	if len(signed.GetSignature()) != 96 {
		return fmt.Errorf("warp.Signer.Sign: a %d-byte signature", len(signed.GetSignature()))
	}
	r.Signature = hex.EncodeToString(signed.GetSignature())
	if _, err := signer.Sign(ctx, &warppb.SignRequest{NetworkId: req.GetNetworkId(), SourceChainId: make([]byte, 32), Payload: []byte("x")}); err != nil {
		r.WrongChainError = err.Error()
	}
	if _, err := signer.Sign(ctx, &warppb.SignRequest{NetworkId: req.GetNetworkId() + 1, SourceChainId: req.GetChainId(), Payload: []byte("x")}); err != nil {
		r.WrongNetworkError = err.Error()
	}

	sender := appsenderpb.NewAppSenderClient(conn)
	if _, err := sender.SendAppGossip(ctx, &appsenderpb.SendAppGossipMsg{NodeIds: [][]byte{req.GetNodeId()}, Validators: 1, Msg: []byte("gossip from go")}); err != nil {
		return fmt.Errorf("appsender.SendAppGossip: %w", err)
	}
	r.AppGossipSent = true
	if _, err := sender.SendAppRequest(ctx, &appsenderpb.SendAppRequestMsg{NodeIds: [][]byte{req.GetNodeId()}, RequestId: 7, Request: []byte("request from go")}); err != nil {
		return fmt.Errorf("appsender.SendAppRequest: %w", err)
	}
	r.AppRequestSent = true

	// An atomic put for a peer chain with a write of our own database; reading our side of that
	// pair finds nothing (the put is for the peer).
	shared := sharedmemorypb.NewSharedMemoryClient(conn)
	peer := bytes.Repeat([]byte{0x42}, 32)
	if _, err := shared.Apply(ctx, &sharedmemorypb.ApplyRequest{
		Requests: []*sharedmemorypb.AtomicRequest{{PeerChainId: peer, PutRequests: []*sharedmemorypb.Element{{Key: []byte("go-key"), Value: []byte("go-value"), Traits: [][]byte{[]byte("go-trait")}}}}},
		Batches:  []*sharedmemorypb.Batch{{Puts: []*sharedmemorypb.BatchPut{{Key: []byte("go-batch"), Value: []byte("written atomically")}}}},
	}); err != nil {
		return fmt.Errorf("sharedmemory.Apply: %w", err)
	}
	r.SharedApplied = true
	if _, err := shared.Get(ctx, &sharedmemorypb.GetRequest{PeerChainId: peer, Keys: [][]byte{[]byte("go-key")}}); err != nil {
		r.SharedGetError = err.Error()
	}

	health, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return fmt.Errorf("grpc.health.v1.Health.Check: %w", err)
	}
	r.Health = health.GetStatus().String()

	if n, err := strconv.Atoi(os.Getenv("GO_PLUGIN_CALLBACK_ROUNDS")); err == nil && n > 0 {
		// Each kind gets its own deadline: the rounds may take longer than the checks above.
		kinds := []struct {
			name  string
			calls int
			call  func(ctx context.Context) error
		}{
			{"ValidatorState.GetCurrentHeight", n, func(ctx context.Context) error { _, err := vs.GetCurrentHeight(ctx, &emptypb.Empty{}); return err }},
			{"ValidatorState.GetValidatorSet", n, func(ctx context.Context) error {
				_, err := vs.GetValidatorSet(ctx, &validatorstatepb.GetValidatorSetRequest{Height: 0, SubnetId: subnet.GetSubnetId()})
				return err
			}},
			{"AliasReader.Aliases", n, func(ctx context.Context) error {
				_, err := ar.Aliases(ctx, &aliasreaderpb.ID{Id: req.GetChainId()})
				return err
			}},
			{"AppSender.SendAppGossip", n, func(ctx context.Context) error {
				_, err := sender.SendAppGossip(ctx, &appsenderpb.SendAppGossipMsg{Validators: 8, Msg: make([]byte, 256)})
				return err
			}},
			{"SharedMemory.Get", n, func(ctx context.Context) error {
				_, err := shared.Get(ctx, &sharedmemorypb.GetRequest{PeerChainId: peer, Keys: [][]byte{[]byte("go-key")}})
				if err != nil && strings.Contains(err.Error(), "not found") {
					return nil // the put is for the peer: not found on our side, a full round trip all the same
				}
				return err
			}},
			{"Warp.Sign", atLeast(20, n/20), func(ctx context.Context) error {
				_, err := signer.Sign(ctx, &warppb.SignRequest{NetworkId: req.GetNetworkId(), SourceChainId: req.GetChainId(), Payload: make([]byte, 256)})
				return err
			}},
		}
		r.Rounds = map[string]roundTrips{}
		for _, k := range kinds {
			kctx, kcancel := context.WithTimeout(context.Background(), time.Minute)
			rt, err := timeCalls(k.calls, func() error { return k.call(kctx) })
			kcancel()
			if err != nil {
				return fmt.Errorf("rounds of %s: %w", k.name, err)
			}
			r.Rounds[k.name] = rt
		}
	}

	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return os.WriteFile(out, data, 0o600)
}
