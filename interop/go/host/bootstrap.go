package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"time"

	vmpb "vmre/gen/vm"
)

// bootstrapReport is the "bootstrap" object of the JSON line: the blocks of -bootstrap's file
// applied to the VM as a bootstrapping node applies fetched blocks (BatchedParseBlock in
// batches, then BlockVerify and BlockAccept of each, in height order).
type bootstrapReport struct {
	Blocks       int     `json:"blocks"`
	Batch        int     `json:"batch"`
	Ms           float64 `json:"ms"`
	ParseMs      float64 `json:"parseMs"`
	BlocksPerSec float64 `json:"blocksPerSec"`
	LastHeight   uint64  `json:"lastHeight"`
}

// readBlocks reads a file of blocks, each as a 4-byte big-endian length and its bytes.
func readBlocks(path string) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var blocks [][]byte
	var head [4]byte
	for {
		if _, err := io.ReadFull(f, head[:]); err == io.EOF {
			return blocks, nil
		} else if err != nil {
			return nil, fmt.Errorf("block %d: %v", len(blocks), err)
		}
		b := make([]byte, binary.BigEndian.Uint32(head[:]))
		if _, err := io.ReadFull(f, b); err != nil {
			return nil, fmt.Errorf("block %d: %v", len(blocks), err)
		}
		blocks = append(blocks, b)
	}
}

// runBootstrap applies the file's blocks to an initialized VM in SetState(BOOTSTRAPPING).
func runBootstrap(vm vmpb.VMClient, o options) (*bootstrapReport, error) {
	blocks, err := readBlocks(o.bootstrapFile)
	if err != nil {
		return nil, err
	}
	call := func() (context.Context, context.CancelFunc) { return context.WithTimeout(context.Background(), o.callTimeout) }
	ctx, cancel := call()
	_, err = vm.SetState(ctx, &vmpb.SetStateRequest{State: vmpb.State_STATE_BOOTSTRAPPING})
	cancel()
	if err != nil {
		return nil, fmt.Errorf("SetState(BOOTSTRAPPING): %v", err)
	}
	report := &bootstrapReport{Blocks: len(blocks), Batch: o.bootstrapBatch}
	start := time.Now()
	var parsing time.Duration
	for from := 0; from < len(blocks); from += o.bootstrapBatch {
		to := from + o.bootstrapBatch
		if to > len(blocks) {
			to = len(blocks)
		}
		batch := blocks[from:to]
		t := time.Now()
		ctx, cancel := call()
		parsed, err := vm.BatchedParseBlock(ctx, &vmpb.BatchedParseBlockRequest{Request: batch})
		cancel()
		parsing += time.Since(t)
		if err != nil {
			return nil, fmt.Errorf("BatchedParseBlock of blocks %d..%d: %v", from, from+len(batch)-1, err)
		}
		if len(parsed.GetResponse()) != len(batch) {
			return nil, fmt.Errorf("BatchedParseBlock answered %d blocks for %d", len(parsed.GetResponse()), len(batch))
		}
		for i, b := range batch {
			ctx, cancel := call()
			_, err := vm.BlockVerify(ctx, &vmpb.BlockVerifyRequest{Bytes: b})
			if err == nil {
				_, err = vm.BlockAccept(ctx, &vmpb.BlockAcceptRequest{Id: parsed.Response[i].GetId()})
			}
			cancel()
			if err != nil {
				return nil, fmt.Errorf("block %d (height %d): %v", from+i, parsed.Response[i].GetHeight(), err)
			}
			report.LastHeight = parsed.Response[i].GetHeight()
		}
	}
	elapsed := time.Since(start)
	report.Ms, report.ParseMs = *ms(elapsed), *ms(parsing)
	report.BlocksPerSec = float64(len(blocks)) / elapsed.Seconds()
	return report, nil
}
