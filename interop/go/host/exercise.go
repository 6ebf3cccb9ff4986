package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	vmpb "vmre/gen/vm"
)

// step is what one exercise call reports. Ids are hex; timestamps RFC 3339 (UTC).
type step struct {
	Ms        float64         `json:"ms"`
	ID        string          `json:"id,omitempty"`
	ParentID  string          `json:"parentId,omitempty"`
	Height    *uint64         `json:"height,omitempty"`
	Timestamp string          `json:"timestamp,omitempty"`
	Bytes     int             `json:"bytes,omitempty"` // length of the block bytes
	State     string          `json:"state,omitempty"`
	Err       string          `json:"err,omitempty"` // the response's vm.Error, when not ERROR_UNSPECIFIED
	Details   json.RawMessage `json:"details,omitempty"`
	Error     string          `json:"error,omitempty"` // why the step failed
}

// exercise is the "exercise" object of the JSON line; steps appear in call order, and the
// sequence stops at the first failing step.
type exercise struct {
	Initialize         *step `json:"initialize,omitempty"`
	SetState           *step `json:"setState,omitempty"`
	BuildBlock         *step `json:"buildBlock,omitempty"`
	BlockVerify        *step `json:"blockVerify,omitempty"`
	BlockAccept        *step `json:"blockAccept,omitempty"`
	GetBlock           *step `json:"getBlock,omitempty"`
	GetBlockIDAtHeight *step `json:"getBlockIdAtHeight,omitempty"`
	Health             *step `json:"health,omitempty"`
	GetUnknownBlock    *step `json:"getUnknownBlock,omitempty"` // must answer OK + ERROR_NOT_FOUND
}

// upgradeTime is the time of every network upgrade sent by Initialize (2020-12-05T05:00:00Z).
var upgradeTime = timestamppb.New(time.Unix(1607144400, 0))

// blsG1Generator is a valid compressed BLS12-381 G1 point (the generator), sent as the
// node's public key.
var blsG1Generator, _ = hex.DecodeString("97f1d3a73197d7942695638c4fa9ac0fc3688c4f9774b905a14e3a3f171bac586c55e83ff97a1aeffb3af00adb22c6bb")

func label(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }

func initializeRequest(o options, nodeAddr, dataDir string) (*vmpb.InitializeRequest, error) {
	genesis := []byte("vmre go host genesis")
	if o.genesisFile != "" {
		b, err := os.ReadFile(o.genesisFile)
		if err != nil {
			return nil, err
		}
		genesis = b
	}
	var config []byte
	if o.configFile != "" {
		b, err := os.ReadFile(o.configFile)
		if err != nil {
			return nil, err
		}
		config = b
	}
	return &vmpb.InitializeRequest{
		NetworkId:    uint32(o.networkID),
		SubnetId:     make([]byte, 32), // the primary network
		ChainId:      label("vmre go host chain"),
		NodeId:       label("vmre go host node")[:20],
		PublicKey:    blsG1Generator,
		XChainId:     label("vmre go host X-chain"),
		CChainId:     label("vmre go host C-chain"),
		AvaxAssetId:  label("vmre go host asset"),
		ChainDataDir: dataDir,
		GenesisBytes: genesis,
		UpgradeBytes: nil,
		ConfigBytes:  config,
		DbServerAddr: nodeAddr,
		ServerAddr:   nodeAddr,
		NetworkUpgrades: &vmpb.NetworkUpgrades{
			ApricotPhase_1Time: upgradeTime, ApricotPhase_2Time: upgradeTime, ApricotPhase_3Time: upgradeTime,
			ApricotPhase_4Time: upgradeTime, ApricotPhase_4MinPChainHeight: 0, ApricotPhase_5Time: upgradeTime,
			ApricotPhasePre_6Time: upgradeTime, ApricotPhase_6Time: upgradeTime, ApricotPhasePost_6Time: upgradeTime,
			BanffTime: upgradeTime, CortinaTime: upgradeTime, CortinaXChainStopVertexId: make([]byte, 32),
			DurangoTime: upgradeTime, EtnaTime: upgradeTime, FortunaTime: upgradeTime, GraniteTime: upgradeTime,
			GraniteEpochDuration: durationpb.New(30 * time.Second), HeliconTime: upgradeTime,
		},
	}, nil
}

func u64(v uint64) *uint64 { return &v }

func checkID(what string, id []byte) error {
	if len(id) != 32 {
		return fmt.Errorf("%s is %d bytes, want 32", what, len(id))
	}
	return nil
}

func checkTime(ts *timestamppb.Timestamp) (string, error) {
	if ts == nil {
		return "", fmt.Errorf("timestamp is unset")
	}
	if err := ts.CheckValid(); err != nil {
		return "", err
	}
	return ts.AsTime().UTC().Format(time.RFC3339Nano), nil
}

// runExercise drives the VM through a short life: Initialize → SetState(NORMAL_OP) →
// BuildBlock → BlockVerify → BlockAccept → GetBlock → GetBlockIDAtHeight → Health, and then
// GetBlock of an unknown id. Each answer is checked against the wire contract.
func runExercise(vm vmpb.VMClient, o options, nodeAddr, dataDir string) (*exercise, error) {
	ex := &exercise{}
	call := func(name string, slot **step, f func(context.Context, *step) error) error {
		s := &step{}
		*slot = s
		ctx, cancel := context.WithTimeout(context.Background(), o.callTimeout)
		defer cancel()
		t := time.Now()
		err := f(ctx, s)
		s.Ms = *ms(time.Since(t))
		if err != nil {
			s.Error = err.Error()
			return fmt.Errorf("%s: %v", name, err)
		}
		log.Info("exercise", "call", name, "took", time.Since(t).Round(time.Microsecond))
		return nil
	}
	ready := grpc.WaitForReady(true)

	req, err := initializeRequest(o, nodeAddr, dataDir)
	if err != nil {
		return ex, err
	}
	var lastID []byte
	var lastHeight uint64
	if err := call("Initialize", &ex.Initialize, func(ctx context.Context, s *step) error {
		r, err := vm.Initialize(ctx, req, ready)
		if err != nil {
			return err
		}
		s.ID, s.ParentID, s.Height, s.Bytes = hex.EncodeToString(r.GetLastAcceptedId()), hex.EncodeToString(r.GetLastAcceptedParentId()), u64(r.GetHeight()), len(r.GetBytes())
		if s.Timestamp, err = checkTime(r.GetTimestamp()); err != nil {
			return err
		}
		if err := checkID("last_accepted_id", r.GetLastAcceptedId()); err != nil {
			return err
		}
		lastID, lastHeight = r.GetLastAcceptedId(), r.GetHeight()
		return checkID("last_accepted_parent_id", r.GetLastAcceptedParentId())
	}); err != nil {
		return ex, err
	}
	if o.bootstrapFile != "" {
		// The VM is initialized: the rest of its life is -bootstrap's.
		return ex, nil
	}

	if err := call("SetState", &ex.SetState, func(ctx context.Context, s *step) error {
		r, err := vm.SetState(ctx, &vmpb.SetStateRequest{State: vmpb.State_STATE_NORMAL_OP}, ready)
		if err != nil {
			return err
		}
		s.State = vmpb.State_STATE_NORMAL_OP.String()
		s.ID, s.ParentID, s.Height, s.Bytes = hex.EncodeToString(r.GetLastAcceptedId()), hex.EncodeToString(r.GetLastAcceptedParentId()), u64(r.GetHeight()), len(r.GetBytes())
		if s.Timestamp, err = checkTime(r.GetTimestamp()); err != nil {
			return err
		}
		if !bytes.Equal(r.GetLastAcceptedId(), lastID) || r.GetHeight() != lastHeight {
			return fmt.Errorf("last accepted block %x at height %d differs from Initialize's %x at %d", r.GetLastAcceptedId(), r.GetHeight(), lastID, lastHeight)
		}
		return nil
	}); err != nil {
		return ex, err
	}

	var built *vmpb.BuildBlockResponse
	if err := call("BuildBlock", &ex.BuildBlock, func(ctx context.Context, s *step) error {
		r, err := vm.BuildBlock(ctx, &vmpb.BuildBlockRequest{}, ready)
		if err != nil {
			return err
		}
		built = r
		s.ID, s.ParentID, s.Height, s.Bytes = hex.EncodeToString(r.GetId()), hex.EncodeToString(r.GetParentId()), u64(r.GetHeight()), len(r.GetBytes())
		if s.Timestamp, err = checkTime(r.GetTimestamp()); err != nil {
			return err
		}
		if err := checkID("id", r.GetId()); err != nil {
			return err
		}
		switch {
		case len(r.GetBytes()) == 0:
			return fmt.Errorf("block bytes are empty")
		case !bytes.Equal(r.GetParentId(), lastID):
			return fmt.Errorf("parent %x is not the last accepted block %x", r.GetParentId(), lastID)
		case r.GetHeight() != lastHeight+1:
			return fmt.Errorf("height %d, want %d", r.GetHeight(), lastHeight+1)
		}
		return nil
	}); err != nil {
		return ex, err
	}

	if err := call("BlockVerify", &ex.BlockVerify, func(ctx context.Context, s *step) error {
		r, err := vm.BlockVerify(ctx, &vmpb.BlockVerifyRequest{Bytes: built.GetBytes()}, ready)
		if err != nil {
			return err
		}
		s.Timestamp, err = checkTime(r.GetTimestamp())
		return err
	}); err != nil {
		return ex, err
	}

	if err := call("BlockAccept", &ex.BlockAccept, func(ctx context.Context, s *step) error {
		_, err := vm.BlockAccept(ctx, &vmpb.BlockAcceptRequest{Id: built.GetId()}, ready)
		s.ID = hex.EncodeToString(built.GetId())
		return err
	}); err != nil {
		return ex, err
	}

	if err := call("GetBlock", &ex.GetBlock, func(ctx context.Context, s *step) error {
		r, err := vm.GetBlock(ctx, &vmpb.GetBlockRequest{Id: built.GetId()}, ready)
		if err != nil {
			return err
		}
		s.ID, s.ParentID, s.Height, s.Bytes = hex.EncodeToString(built.GetId()), hex.EncodeToString(r.GetParentId()), u64(r.GetHeight()), len(r.GetBytes())
		if r.GetErr() != vmpb.Error_ERROR_UNSPECIFIED {
			s.Err = r.GetErr().String()
			return fmt.Errorf("err %s for the accepted block", r.GetErr())
		}
		if s.Timestamp, err = checkTime(r.GetTimestamp()); err != nil {
			return err
		}
		switch {
		case !bytes.Equal(r.GetBytes(), built.GetBytes()):
			return fmt.Errorf("bytes differ from the built block's")
		case !bytes.Equal(r.GetParentId(), built.GetParentId()):
			return fmt.Errorf("parent %x differs from the built block's %x", r.GetParentId(), built.GetParentId())
		case r.GetHeight() != built.GetHeight():
			return fmt.Errorf("height %d differs from the built block's %d", r.GetHeight(), built.GetHeight())
		}
		return nil
	}); err != nil {
		return ex, err
	}

	if err := call("GetBlockIDAtHeight", &ex.GetBlockIDAtHeight, func(ctx context.Context, s *step) error {
		r, err := vm.GetBlockIDAtHeight(ctx, &vmpb.GetBlockIDAtHeightRequest{Height: built.GetHeight()}, ready)
		if err != nil {
			return err
		}
		s.ID, s.Height = hex.EncodeToString(r.GetBlkId()), u64(built.GetHeight())
		if r.GetErr() != vmpb.Error_ERROR_UNSPECIFIED {
			s.Err = r.GetErr().String()
			return fmt.Errorf("err %s at height %d", r.GetErr(), built.GetHeight())
		}
		if !bytes.Equal(r.GetBlkId(), built.GetId()) {
			return fmt.Errorf("id %x, want the accepted block %x", r.GetBlkId(), built.GetId())
		}
		return nil
	}); err != nil {
		return ex, err
	}

	if err := call("Health", &ex.Health, func(ctx context.Context, s *step) error {
		r, err := vm.Health(ctx, &emptypb.Empty{}, ready)
		if err != nil {
			return err
		}
		if d := r.GetDetails(); json.Valid(d) {
			s.Details = d
		} else {
			s.Details, _ = json.Marshal(string(d))
		}
		return nil
	}); err != nil {
		return ex, err
	}

	if err := call("GetBlock(unknown)", &ex.GetUnknownBlock, func(ctx context.Context, s *step) error {
		id := make([]byte, 32)
		rand.Read(id)
		s.ID = hex.EncodeToString(id)
		r, err := vm.GetBlock(ctx, &vmpb.GetBlockRequest{Id: id}, ready)
		if err != nil {
			return fmt.Errorf("want OK with err ERROR_NOT_FOUND, got %v", err)
		}
		s.Err = r.GetErr().String()
		if r.GetErr() != vmpb.Error_ERROR_NOT_FOUND {
			return fmt.Errorf("want err ERROR_NOT_FOUND, got %s", r.GetErr())
		}
		return nil
	}); err != nil {
		return ex, err
	}
	return ex, nil
}
