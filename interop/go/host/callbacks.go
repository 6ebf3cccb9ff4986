package main

// The node services the host serves a VM at server_addr besides rpcdb, as a Go node does:
// appsender.AppSender (recorded; this host has no peers), warp.Signer, validatorstate
// (this node alone) and aliasreader (the chain's name). Everything the VM calls is counted
// and reported in the JSON line's "callbacks" object.
//
// The warp signer checks the request (network id, source chain) and answers a fixed-form
// 96-byte value, sha256("warp" || payload) repeated: Debian's Go packages carry no BLS12-381
// library. Real BLS signatures are tested against vmre's own signer.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	aliasreaderpb "vmre/gen/aliasreader"
	appsenderpb "vmre/gen/appsender"
	validatorstatepb "vmre/gen/validatorstate"
	vmpb "vmre/gen/vm"
	warppb "vmre/gen/warp"
)

// callbackReport is what the VM called back.
type callbackReport struct {
	AppGossip     int      `json:"appGossip"`
	GossipPayload []string `json:"gossipPayloads,omitempty"`
	AppResponses  []string `json:"appResponses,omitempty"`
	AppErrors     []string `json:"appErrors,omitempty"`
	AppRequests   int      `json:"appRequests"`
	WarpSign      int      `json:"warpSign"`
	WarpRefused   int      `json:"warpRefused"`
	Signatures    []string `json:"signatures,omitempty"`
	Validators    int      `json:"validatorCalls"`
	Aliases       int      `json:"aliasCalls"`
}

type callbacks struct {
	appsenderpb.UnimplementedAppSenderServer
	warppb.UnimplementedSignerServer
	validatorstatepb.UnimplementedValidatorStateServer
	aliasreaderpb.UnimplementedAliasReaderServer
	mu        sync.Mutex
	report    callbackReport
	networkID uint32
	chainID   []byte
	nodeID    []byte
	publicKey []byte
	responded chan struct{}
}

func newCallbacks(networkID uint32, chainID, nodeID, publicKey []byte) *callbacks {
	return &callbacks{networkID: networkID, chainID: chainID, nodeID: nodeID, publicKey: publicKey, responded: make(chan struct{}, 16)}
}

func (c *callbacks) register(s *grpc.Server) {
	appsenderpb.RegisterAppSenderServer(s, c)
	warppb.RegisterSignerServer(s, c)
	validatorstatepb.RegisterValidatorStateServer(s, c)
	aliasreaderpb.RegisterAliasReaderServer(s, c)
}

func (c *callbacks) snapshot() callbackReport {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.report
}

// AppSender.

func (c *callbacks) SendAppGossip(_ context.Context, req *appsenderpb.SendAppGossipMsg) (*emptypb.Empty, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.report.AppGossip++
	c.report.GossipPayload = append(c.report.GossipPayload, string(req.Msg))
	return &emptypb.Empty{}, nil
}

func (c *callbacks) SendAppRequest(context.Context, *appsenderpb.SendAppRequestMsg) (*emptypb.Empty, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.report.AppRequests++
	return &emptypb.Empty{}, nil
}

func (c *callbacks) SendAppResponse(_ context.Context, req *appsenderpb.SendAppResponseMsg) (*emptypb.Empty, error) {
	c.mu.Lock()
	c.report.AppResponses = append(c.report.AppResponses, string(req.Response))
	c.mu.Unlock()
	c.responded <- struct{}{}
	return &emptypb.Empty{}, nil
}

func (c *callbacks) SendAppError(_ context.Context, req *appsenderpb.SendAppErrorMsg) (*emptypb.Empty, error) {
	c.mu.Lock()
	c.report.AppErrors = append(c.report.AppErrors, req.ErrorMessage)
	c.mu.Unlock()
	c.responded <- struct{}{}
	return &emptypb.Empty{}, nil
}

// warp.Signer.

func (c *callbacks) Sign(_ context.Context, req *warppb.SignRequest) (*warppb.SignResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if req.NetworkId != c.networkID {
		c.report.WarpRefused++
		return nil, errors.New("wrong networkID")
	}
	if !bytes.Equal(req.SourceChainId, c.chainID) {
		c.report.WarpRefused++
		return nil, errors.New("wrong SourceChainID")
	}
	digest := sha256.Sum256(append([]byte("warp"), req.Payload...))
	sig := bytes.Repeat(digest[:], 3)
	c.report.WarpSign++
	c.report.Signatures = append(c.report.Signatures, hex.EncodeToString(sig))
	return &warppb.SignResponse{Signature: sig}, nil
}

// validatorstate: this node alone, weight 100, at height 1.

func (c *callbacks) count(n *int) {
	c.mu.Lock()
	*n++
	c.mu.Unlock()
}

func (c *callbacks) GetMinimumHeight(context.Context, *emptypb.Empty) (*validatorstatepb.GetMinimumHeightResponse, error) {
	c.count(&c.report.Validators)
	return &validatorstatepb.GetMinimumHeightResponse{Height: 0}, nil
}

func (c *callbacks) GetCurrentHeight(context.Context, *emptypb.Empty) (*validatorstatepb.GetCurrentHeightResponse, error) {
	c.count(&c.report.Validators)
	return &validatorstatepb.GetCurrentHeightResponse{Height: 1}, nil
}

func (c *callbacks) GetSubnetID(context.Context, *validatorstatepb.GetSubnetIDRequest) (*validatorstatepb.GetSubnetIDResponse, error) {
	c.count(&c.report.Validators)
	return &validatorstatepb.GetSubnetIDResponse{SubnetId: make([]byte, 32)}, nil
}

func (c *callbacks) GetValidatorSet(context.Context, *validatorstatepb.GetValidatorSetRequest) (*validatorstatepb.GetValidatorSetResponse, error) {
	c.count(&c.report.Validators)
	return &validatorstatepb.GetValidatorSetResponse{Validators: []*validatorstatepb.Validator{
		{NodeId: c.nodeID, Weight: 100, PublicKey: c.publicKey},
	}}, nil
}

// aliasreader: the chain is "host-chain".

func (c *callbacks) Lookup(_ context.Context, req *aliasreaderpb.Alias) (*aliasreaderpb.ID, error) {
	c.count(&c.report.Aliases)
	if req.Alias != "host-chain" {
		return nil, errors.New("there is no ID with alias " + req.Alias)
	}
	return &aliasreaderpb.ID{Id: c.chainID}, nil
}

func (c *callbacks) PrimaryAlias(_ context.Context, req *aliasreaderpb.ID) (*aliasreaderpb.Alias, error) {
	c.count(&c.report.Aliases)
	if !bytes.Equal(req.Id, c.chainID) {
		return nil, errors.New("there is no alias for ID " + hex.EncodeToString(req.Id))
	}
	return &aliasreaderpb.Alias{Alias: "host-chain"}, nil
}

func (c *callbacks) Aliases(_ context.Context, req *aliasreaderpb.ID) (*aliasreaderpb.AliasList, error) {
	c.count(&c.report.Aliases)
	if !bytes.Equal(req.Id, c.chainID) {
		return &aliasreaderpb.AliasList{}, nil
	}
	return &aliasreaderpb.AliasList{Aliases: []string{"host-chain"}}, nil
}

// askStatus sends the VM the AppRequest "status" from a peer and waits (a call timeout at
// most) for its answer through the app sender.
func askStatus(vm vmpb.VMClient, o options, cb *callbacks) error {
	ctx, cancel := context.WithTimeout(context.Background(), o.callTimeout)
	defer cancel()
	_, err := vm.AppRequest(ctx, &vmpb.AppRequestMsg{
		NodeId:    label("vmre go host peer")[:20],
		RequestId: 7,
		Deadline:  timestamppb.New(time.Now().Add(o.callTimeout)),
		Request:   []byte("status"),
	})
	if err != nil {
		return fmt.Errorf("AppRequest: %v", err)
	}
	select {
	case <-cb.responded:
		return nil
	case <-ctx.Done():
		return errors.New("AppRequest: no SendAppResponse or SendAppError from the VM within the call timeout")
	}
}
