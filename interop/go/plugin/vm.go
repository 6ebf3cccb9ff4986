package main

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	vmpb "vmre/gen/vm"
)

// Version is what vm.VM/Version answers.
const Version = "goplugin/0.1.0"

// genesisTime is the timestamp of the genesis block (2020-12-05T05:00:00Z).
const genesisTime = 1607144400

// A block of the trivial chain. Its bytes are
//
//	parent id (32) || height (8, big endian) || unix time in seconds (8, big endian) || payload
//
// and its id is sha256(bytes).
type block struct {
	id     [32]byte
	parent [32]byte
	height uint64
	time   uint64
	bytes  []byte
	status vmpb.Status
}

const headerLen = 32 + 8 + 8

func newBlock(parent [32]byte, height, unix uint64, payload []byte) *block {
	b := make([]byte, headerLen, headerLen+len(payload))
	copy(b, parent[:])
	binary.BigEndian.PutUint64(b[32:], height)
	binary.BigEndian.PutUint64(b[40:], unix)
	b = append(b, payload...)
	return &block{id: sha256.Sum256(b), parent: parent, height: height, time: unix, bytes: b, status: vmpb.Status_STATUS_PROCESSING}
}

func parseBlock(b []byte) (*block, error) {
	if len(b) < headerLen {
		return nil, fmt.Errorf("block is %d bytes, shorter than its %d byte header", len(b), headerLen)
	}
	blk := &block{id: sha256.Sum256(b), height: binary.BigEndian.Uint64(b[32:]), time: binary.BigEndian.Uint64(b[40:]),
		bytes: append([]byte(nil), b...), status: vmpb.Status_STATUS_PROCESSING}
	copy(blk.parent[:], b)
	return blk, nil
}

func (b *block) timestamp() *timestamppb.Timestamp {
	return timestamppb.New(time.Unix(int64(b.time), 0))
}

func short(id [32]byte) string { return hex.EncodeToString(id[:6]) }

func toID(b []byte) ([32]byte, error) {
	var id [32]byte
	if len(b) != 32 {
		return id, fmt.Errorf("id is %d bytes, want 32", len(b))
	}
	copy(id[:], b)
	return id, nil
}

var errNotInitialized = errors.New("vm not initialized")

// chainVM serves vm.VM for an in-memory chain. RPCs not listed in the brief stay
// Unimplemented (from the embedded UnimplementedVMServer).
type chainVM struct {
	vmpb.UnimplementedVMServer

	mu           sync.Mutex
	initialized  bool
	shutdown     bool
	state        vmpb.State
	blocks       map[[32]byte]*block
	heights      map[uint64][32]byte // accepted blocks only
	lastAccepted [32]byte
	preferred    [32]byte
	built        uint64
}

func newChainVM() *chainVM {
	return &chainVM{blocks: map[[32]byte]*block{}, heights: map[uint64][32]byte{}}
}

func (vm *chainVM) shutdownCalled() bool {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	return vm.shutdown
}

func (vm *chainVM) Initialize(_ context.Context, req *vmpb.InitializeRequest) (*vmpb.InitializeResponse, error) {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	if vm.initialized {
		return nil, errors.New("vm already initialized")
	}
	genesis := newBlock([32]byte{}, 0, genesisTime, req.GetGenesisBytes())
	genesis.status = vmpb.Status_STATUS_ACCEPTED
	vm.blocks[genesis.id] = genesis
	vm.heights[0] = genesis.id
	vm.lastAccepted, vm.preferred = genesis.id, genesis.id
	if ms := os.Getenv("GO_PLUGIN_NOTIFY_MS"); ms != "" {
		// A luxd-style VM: it pushes "build a block" to the node instead of answering WaitForEvent.
		if err := startNotifying(req.GetServerAddr(), ms); err != nil {
			return nil, err
		}
	}
	if out := os.Getenv("GO_PLUGIN_CALLBACKS"); out != "" {
		if err := callNodeServices(req, out); err != nil {
			log.Error("node services failed", "error", err)
			return nil, fmt.Errorf("node services: %w", err)
		}
	}
	vm.initialized = true
	log.Info("vm initialized", "networkID", req.GetNetworkId(), "chainID", hex.EncodeToString(req.GetChainId()),
		"dataDir", req.GetChainDataDir(), "db", req.GetDbServerAddr(), "genesis", short(genesis.id))
	return &vmpb.InitializeResponse{
		LastAcceptedId: genesis.id[:], LastAcceptedParentId: genesis.parent[:],
		Height: 0, Bytes: genesis.bytes, Timestamp: genesis.timestamp(),
	}, nil
}

func (vm *chainVM) SetState(_ context.Context, req *vmpb.SetStateRequest) (*vmpb.SetStateResponse, error) {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	if !vm.initialized {
		return nil, errNotInitialized
	}
	vm.state = req.GetState()
	last := vm.blocks[vm.lastAccepted]
	log.Info("vm state changed", "state", vm.state)
	return &vmpb.SetStateResponse{
		LastAcceptedId: last.id[:], LastAcceptedParentId: last.parent[:],
		Height: last.height, Bytes: last.bytes, Timestamp: last.timestamp(),
	}, nil
}

func (vm *chainVM) Shutdown(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	if !vm.shutdown {
		log.Info("shutdown requested by the node")
	}
	vm.shutdown = true
	return &emptypb.Empty{}, nil
}

func (vm *chainVM) Version(context.Context, *emptypb.Empty) (*vmpb.VersionResponse, error) {
	return &vmpb.VersionResponse{Version: Version}, nil
}

func (vm *chainVM) Health(context.Context, *emptypb.Empty) (*vmpb.HealthResponse, error) {
	vm.mu.Lock()
	details := map[string]interface{}{
		"healthy":     true,
		"version":     Version,
		"initialized": vm.initialized,
		"state":       vm.state.String(),
	}
	if last, ok := vm.blocks[vm.lastAccepted]; ok {
		details["lastAcceptedHeight"] = last.height
		details["lastAcceptedID"] = hex.EncodeToString(last.id[:])
	}
	vm.mu.Unlock()
	b, err := json.Marshal(details)
	if err != nil {
		return nil, err
	}
	return &vmpb.HealthResponse{Details: b}, nil
}

func (vm *chainVM) BuildBlock(_ context.Context, req *vmpb.BuildBlockRequest) (*vmpb.BuildBlockResponse, error) {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	if !vm.initialized {
		return nil, errNotInitialized
	}
	parent := vm.blocks[vm.preferred]
	now := uint64(time.Now().Unix())
	if now < parent.time {
		now = parent.time
	}
	vm.built++
	blk := newBlock(parent.id, parent.height+1, now, []byte(fmt.Sprintf("goplugin block %d", vm.built)))
	vm.blocks[blk.id] = blk
	log.Info("built block", "id", short(blk.id), "height", blk.height, "pChainHeight", req.PChainHeight != nil)
	return &vmpb.BuildBlockResponse{
		Id: blk.id[:], ParentId: blk.parent[:], Bytes: blk.bytes, Height: blk.height, Timestamp: blk.timestamp(),
	}, nil
}

func (vm *chainVM) ParseBlock(_ context.Context, req *vmpb.ParseBlockRequest) (*vmpb.ParseBlockResponse, error) {
	blk, err := parseBlock(req.GetBytes())
	if err != nil {
		return nil, err
	}
	vm.mu.Lock()
	if known, ok := vm.blocks[blk.id]; ok {
		blk = known
	}
	vm.mu.Unlock()
	return &vmpb.ParseBlockResponse{
		Id: blk.id[:], ParentId: blk.parent[:], Status: blk.status, Height: blk.height, Timestamp: blk.timestamp(),
	}, nil
}

func (vm *chainVM) GetBlock(_ context.Context, req *vmpb.GetBlockRequest) (*vmpb.GetBlockResponse, error) {
	id, err := toID(req.GetId())
	if err != nil {
		return nil, err
	}
	vm.mu.Lock()
	defer vm.mu.Unlock()
	blk, ok := vm.blocks[id]
	if !ok {
		return &vmpb.GetBlockResponse{Err: vmpb.Error_ERROR_NOT_FOUND}, nil
	}
	return &vmpb.GetBlockResponse{
		ParentId: blk.parent[:], Bytes: blk.bytes, Status: blk.status, Height: blk.height, Timestamp: blk.timestamp(),
	}, nil
}

func (vm *chainVM) SetPreference(_ context.Context, req *vmpb.SetPreferenceRequest) (*emptypb.Empty, error) {
	id, err := toID(req.GetId())
	if err != nil {
		return nil, err
	}
	vm.mu.Lock()
	defer vm.mu.Unlock()
	if _, ok := vm.blocks[id]; !ok {
		return nil, fmt.Errorf("cannot prefer unknown block %x", id)
	}
	vm.preferred = id
	return &emptypb.Empty{}, nil
}

func (vm *chainVM) BlockVerify(_ context.Context, req *vmpb.BlockVerifyRequest) (*vmpb.BlockVerifyResponse, error) {
	blk, err := parseBlock(req.GetBytes())
	if err != nil {
		return nil, err
	}
	vm.mu.Lock()
	defer vm.mu.Unlock()
	if !vm.initialized {
		return nil, errNotInitialized
	}
	if known, ok := vm.blocks[blk.id]; ok && known.status != vmpb.Status_STATUS_PROCESSING {
		if known.status == vmpb.Status_STATUS_REJECTED {
			return nil, fmt.Errorf("block %x was rejected", blk.id)
		}
		return &vmpb.BlockVerifyResponse{Timestamp: known.timestamp()}, nil
	}
	parent, ok := vm.blocks[blk.parent]
	switch {
	case !ok:
		return nil, fmt.Errorf("unknown parent %x", blk.parent)
	case parent.status == vmpb.Status_STATUS_REJECTED:
		return nil, fmt.Errorf("parent %x was rejected", blk.parent)
	case blk.height != parent.height+1:
		return nil, fmt.Errorf("height %d does not follow parent height %d", blk.height, parent.height)
	case blk.time < parent.time:
		return nil, fmt.Errorf("time %d is before parent time %d", blk.time, parent.time)
	case blk.time > uint64(time.Now().Add(10*time.Second).Unix()):
		return nil, fmt.Errorf("time %d is in the future", blk.time)
	}
	vm.blocks[blk.id] = blk
	return &vmpb.BlockVerifyResponse{Timestamp: blk.timestamp()}, nil
}

func (vm *chainVM) BlockAccept(_ context.Context, req *vmpb.BlockAcceptRequest) (*emptypb.Empty, error) {
	id, err := toID(req.GetId())
	if err != nil {
		return nil, err
	}
	vm.mu.Lock()
	defer vm.mu.Unlock()
	blk, ok := vm.blocks[id]
	switch {
	case !ok:
		return nil, fmt.Errorf("cannot accept unknown block %x", id)
	case blk.status == vmpb.Status_STATUS_ACCEPTED:
		return &emptypb.Empty{}, nil
	case blk.status == vmpb.Status_STATUS_REJECTED:
		return nil, fmt.Errorf("cannot accept rejected block %x", id)
	case blk.parent != vm.lastAccepted:
		return nil, fmt.Errorf("cannot accept block %x: its parent %x is not the last accepted block", id, blk.parent)
	}
	blk.status = vmpb.Status_STATUS_ACCEPTED
	vm.heights[blk.height] = blk.id
	vm.lastAccepted = blk.id
	log.Info("accepted block", "id", short(blk.id), "height", blk.height)
	return &emptypb.Empty{}, nil
}

func (vm *chainVM) BlockReject(_ context.Context, req *vmpb.BlockRejectRequest) (*emptypb.Empty, error) {
	id, err := toID(req.GetId())
	if err != nil {
		return nil, err
	}
	vm.mu.Lock()
	defer vm.mu.Unlock()
	blk, ok := vm.blocks[id]
	switch {
	case !ok:
		return nil, fmt.Errorf("cannot reject unknown block %x", id)
	case blk.status == vmpb.Status_STATUS_ACCEPTED:
		return nil, fmt.Errorf("cannot reject accepted block %x", id)
	}
	blk.status = vmpb.Status_STATUS_REJECTED
	if vm.preferred == id {
		vm.preferred = vm.lastAccepted
	}
	return &emptypb.Empty{}, nil
}

func (vm *chainVM) GetBlockIDAtHeight(_ context.Context, req *vmpb.GetBlockIDAtHeightRequest) (*vmpb.GetBlockIDAtHeightResponse, error) {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	id, ok := vm.heights[req.GetHeight()]
	if !ok {
		return &vmpb.GetBlockIDAtHeightResponse{Err: vmpb.Error_ERROR_NOT_FOUND}, nil
	}
	return &vmpb.GetBlockIDAtHeightResponse{BlkId: id[:]}, nil
}

// State sync is not implemented: every state sync RPC answers OK with that error code.
const noStateSync = vmpb.Error_ERROR_STATE_SYNC_NOT_IMPLEMENTED

func (vm *chainVM) StateSyncEnabled(context.Context, *emptypb.Empty) (*vmpb.StateSyncEnabledResponse, error) {
	return &vmpb.StateSyncEnabledResponse{Enabled: false, Err: noStateSync}, nil
}

func (vm *chainVM) GetOngoingSyncStateSummary(context.Context, *emptypb.Empty) (*vmpb.GetOngoingSyncStateSummaryResponse, error) {
	return &vmpb.GetOngoingSyncStateSummaryResponse{Err: noStateSync}, nil
}

func (vm *chainVM) GetLastStateSummary(context.Context, *emptypb.Empty) (*vmpb.GetLastStateSummaryResponse, error) {
	return &vmpb.GetLastStateSummaryResponse{Err: noStateSync}, nil
}

func (vm *chainVM) ParseStateSummary(context.Context, *vmpb.ParseStateSummaryRequest) (*vmpb.ParseStateSummaryResponse, error) {
	return &vmpb.ParseStateSummaryResponse{Err: noStateSync}, nil
}

func (vm *chainVM) GetStateSummary(context.Context, *vmpb.GetStateSummaryRequest) (*vmpb.GetStateSummaryResponse, error) {
	return &vmpb.GetStateSummaryResponse{Err: noStateSync}, nil
}

func (vm *chainVM) StateSummaryAccept(context.Context, *vmpb.StateSummaryAcceptRequest) (*vmpb.StateSummaryAcceptResponse, error) {
	return &vmpb.StateSummaryAcceptResponse{Err: noStateSync}, nil
}
