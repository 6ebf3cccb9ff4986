package main

import (
	"context"
	"time"

	vmpb "vmre/gen/vm"
)

// GetAncestors answers the block and its ancestors, newest first, within the request's bounds
// (count, total bytes, time), as a node serving a bootstrapping peer asks for them.
func (vm *chainVM) GetAncestors(_ context.Context, req *vmpb.GetAncestorsRequest) (*vmpb.GetAncestorsResponse, error) {
	id, err := toID(req.GetBlkId())
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(time.Duration(req.GetMaxBlocksRetrivalTime()))
	vm.mu.Lock()
	defer vm.mu.Unlock()
	var out [][]byte
	size := 0
	for blk, ok := vm.blocks[id]; ok && len(out) < int(req.GetMaxBlocksNum()); blk, ok = vm.blocks[blk.parent] {
		if size+len(blk.bytes) > int(req.GetMaxBlocksSize()) && len(out) > 0 {
			break
		}
		if len(out) > 0 && req.GetMaxBlocksRetrivalTime() > 0 && time.Now().After(deadline) {
			break
		}
		out = append(out, blk.bytes)
		size += len(blk.bytes)
	}
	return &vmpb.GetAncestorsResponse{BlksBytes: out}, nil
}

// BatchedParseBlock parses each block as ParseBlock does, answering in the request's order.
func (vm *chainVM) BatchedParseBlock(ctx context.Context, req *vmpb.BatchedParseBlockRequest) (*vmpb.BatchedParseBlockResponse, error) {
	out := make([]*vmpb.ParseBlockResponse, 0, len(req.GetRequest()))
	for _, bytes := range req.GetRequest() {
		parsed, err := vm.ParseBlock(ctx, &vmpb.ParseBlockRequest{Bytes: bytes})
		if err != nil {
			return nil, err
		}
		out = append(out, parsed)
	}
	return &vmpb.BatchedParseBlockResponse{Response: out}, nil
}
