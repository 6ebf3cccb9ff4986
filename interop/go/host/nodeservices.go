package main

import (
	"bytes"
	"context"
	"net"
	"sort"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"

	healthpb "vmre/gen/grpc/health/v1"
	rpcdbpb "vmre/gen/rpcdb"
	"vmre/interop/internal/wire"
)

// nodeServices is the gRPC server whose address -exercise sends as both db_server_addr and
// server_addr: an in-memory rpcdb.Database, health, and the callback services of callbacks.go
// (app sender, warp signer, validator state, aliases; no shared memory).
type nodeServices struct {
	server *grpc.Server
	addr   string
}

func startNodeServices(cb *callbacks) (*nodeServices, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := grpc.NewServer(wire.ServerOptions()...)
	rpcdbpb.RegisterDatabaseServer(s, newMemDB())
	healthpb.RegisterHealthServer(s, wire.Health{})
	cb.register(s)
	go s.Serve(lis)
	return &nodeServices{server: s, addr: lis.Addr().String()}, nil
}

func (n *nodeServices) stop() { n.server.Stop() }

// iteratorBatchBytes bounds one IteratorNext answer, like the nodes' ~128 KiB batches.
const iteratorBatchBytes = 128 * 1024

type memDB struct {
	rpcdbpb.UnimplementedDatabaseServer
	mu       sync.Mutex
	closed   bool
	data     map[string][]byte
	iters    map[uint64]*memIter
	nextIter uint64
}

type memIter struct {
	keys, values [][]byte // a snapshot taken when the iterator was made
	pos          int
}

func newMemDB() *memDB {
	return &memDB{data: map[string][]byte{}, iters: map[uint64]*memIter{}}
}

const (
	dbClosed   = rpcdbpb.Error_ERROR_CLOSED
	dbNotFound = rpcdbpb.Error_ERROR_NOT_FOUND
)

func (db *memDB) Has(_ context.Context, req *rpcdbpb.HasRequest) (*rpcdbpb.HasResponse, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return &rpcdbpb.HasResponse{Err: dbClosed}, nil
	}
	_, ok := db.data[string(req.GetKey())]
	return &rpcdbpb.HasResponse{Has: ok}, nil
}

func (db *memDB) Get(_ context.Context, req *rpcdbpb.GetRequest) (*rpcdbpb.GetResponse, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return &rpcdbpb.GetResponse{Err: dbClosed}, nil
	}
	v, ok := db.data[string(req.GetKey())]
	if !ok {
		return &rpcdbpb.GetResponse{Err: dbNotFound}, nil
	}
	return &rpcdbpb.GetResponse{Value: v}, nil
}

func (db *memDB) Put(_ context.Context, req *rpcdbpb.PutRequest) (*rpcdbpb.PutResponse, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return &rpcdbpb.PutResponse{Err: dbClosed}, nil
	}
	db.data[string(req.GetKey())] = append([]byte(nil), req.GetValue()...)
	return &rpcdbpb.PutResponse{}, nil
}

func (db *memDB) Delete(_ context.Context, req *rpcdbpb.DeleteRequest) (*rpcdbpb.DeleteResponse, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return &rpcdbpb.DeleteResponse{Err: dbClosed}, nil
	}
	delete(db.data, string(req.GetKey()))
	return &rpcdbpb.DeleteResponse{}, nil
}

func (db *memDB) Compact(context.Context, *rpcdbpb.CompactRequest) (*rpcdbpb.CompactResponse, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return &rpcdbpb.CompactResponse{Err: dbClosed}, nil
	}
	return &rpcdbpb.CompactResponse{}, nil
}

func (db *memDB) Close(context.Context, *rpcdbpb.CloseRequest) (*rpcdbpb.CloseResponse, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return &rpcdbpb.CloseResponse{Err: dbClosed}, nil
	}
	db.closed = true
	return &rpcdbpb.CloseResponse{}, nil
}

func (db *memDB) HealthCheck(context.Context, *emptypb.Empty) (*rpcdbpb.HealthCheckResponse, error) {
	return &rpcdbpb.HealthCheckResponse{Details: []byte(`{"database":"memory"}`)}, nil
}

func (db *memDB) WriteBatch(_ context.Context, req *rpcdbpb.WriteBatchRequest) (*rpcdbpb.WriteBatchResponse, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return &rpcdbpb.WriteBatchResponse{Err: dbClosed}, nil
	}
	for _, kv := range req.GetPuts() {
		db.data[string(kv.GetKey())] = append([]byte(nil), kv.GetValue()...)
	}
	for _, d := range req.GetDeletes() {
		delete(db.data, string(d.GetKey()))
	}
	return &rpcdbpb.WriteBatchResponse{}, nil
}

func (db *memDB) NewIteratorWithStartAndPrefix(_ context.Context, req *rpcdbpb.NewIteratorWithStartAndPrefixRequest) (*rpcdbpb.NewIteratorWithStartAndPrefixResponse, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	it := &memIter{}
	if !db.closed {
		keys := make([]string, 0, len(db.data))
		for k := range db.data {
			if bytes.HasPrefix([]byte(k), req.GetPrefix()) && bytes.Compare([]byte(k), req.GetStart()) >= 0 {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			it.keys = append(it.keys, []byte(k))
			it.values = append(it.values, db.data[k])
		}
	}
	db.nextIter++
	db.iters[db.nextIter] = it
	return &rpcdbpb.NewIteratorWithStartAndPrefixResponse{Id: db.nextIter}, nil
}

func (db *memDB) IteratorNext(_ context.Context, req *rpcdbpb.IteratorNextRequest) (*rpcdbpb.IteratorNextResponse, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	it, ok := db.iters[req.GetId()]
	if !ok {
		return &rpcdbpb.IteratorNextResponse{}, nil
	}
	var data []*rpcdbpb.PutRequest
	size := 0
	for it.pos < len(it.keys) && size < iteratorBatchBytes {
		data = append(data, &rpcdbpb.PutRequest{Key: it.keys[it.pos], Value: it.values[it.pos]})
		size += len(it.keys[it.pos]) + len(it.values[it.pos])
		it.pos++
	}
	return &rpcdbpb.IteratorNextResponse{Data: data}, nil
}

func (db *memDB) IteratorError(context.Context, *rpcdbpb.IteratorErrorRequest) (*rpcdbpb.IteratorErrorResponse, error) {
	return &rpcdbpb.IteratorErrorResponse{}, nil
}

func (db *memDB) IteratorRelease(_ context.Context, req *rpcdbpb.IteratorReleaseRequest) (*rpcdbpb.IteratorReleaseResponse, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	delete(db.iters, req.GetId())
	return &rpcdbpb.IteratorReleaseResponse{}, nil
}
