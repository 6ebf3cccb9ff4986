package main

// The plugin's HTTP API, served as a Go VM serves one: CreateHandlers names one gRPC server
// (http.HTTP) at prefix "/go"; HandleSimple runs the handler on a recorded response,
// Handle dials the node's per-request server and writes the response through its
// http.responsewriter.Writer, reading the body from its io.reader.Reader (or inline, luxd).
// Header keys are copied as they arrive, without canonicalizing them, as Go VMs do: a node
// must send them in Go's canonical form for r.Header.Get to find them.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"time"

	anypbv1 "github.com/golang/protobuf/ptypes/any"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"

	httppb "vmre/gen/http"
	responsewriterpb "vmre/gen/http/responsewriter"
	readerpb "vmre/gen/io/reader"
	vmpb "vmre/gen/vm"
)

// apiHandler describes the request it got as JSON. ?status=N answers N (a 500 travels back as
// the gRPC error with the response as its detail); ?chunks=N writes N lines, flushing each.
func apiHandler(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	code := http.StatusOK
	if n, err := strconv.Atoi(r.URL.Query().Get("status")); err == nil {
		code = n
	}
	w.Header().Set("X-Go", "yes")
	if n, err := strconv.Atoi(r.URL.Query().Get("chunks")); err == nil {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(code)
		for i := 0; i < n; i++ {
			io.WriteString(w, "go chunk "+strconv.Itoa(i)+"\n")
			if f, ok := w.(http.Flusher); ok {
				f.Flush()
			}
		}
		return
	}
	sum := sha256.Sum256(body)
	out, _ := json.Marshal(map[string]interface{}{
		"method":      r.Method,
		"path":        r.URL.Path,
		"query":       r.URL.RawQuery,
		"contentType": r.Header.Get("Content-Type"),
		"custom":      r.Header.Get("X-Custom"),
		"bodyLength":  len(body),
		"bodySha256":  hex.EncodeToString(sum[:]),
	})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(out)
}

type elementList = []*httppb.Element

func elements(h http.Header) elementList {
	out := make(elementList, 0, len(h))
	for k, v := range h {
		out = append(out, &httppb.Element{Key: k, Values: v})
	}
	return out
}

type httpServer struct {
	httppb.UnimplementedHTTPServer
	handler http.Handler
}

func (s *httpServer) HandleSimple(ctx context.Context, req *httppb.HandleSimpleHTTPRequest) (*httppb.HandleSimpleHTTPResponse, error) {
	r, err := http.NewRequestWithContext(ctx, req.Method, req.Url, bytes.NewReader(req.Body))
	if err != nil {
		return nil, err
	}
	for _, e := range req.RequestHeaders {
		r.Header[e.Key] = e.Values
	}
	r.RequestURI = req.Url
	rec := httptest.NewRecorder()
	for _, e := range req.ResponseHeaders {
		rec.Header()[e.Key] = e.Values
	}
	s.handler.ServeHTTP(rec, r)
	resp := &httppb.HandleSimpleHTTPResponse{Code: int32(rec.Code), Headers: elements(rec.Header()), Body: rec.Body.Bytes()}
	if rec.Code == http.StatusInternalServerError {
		// The Any is built by hand: the packaged grpc-go's WithDetails leaves the type URL
		// empty for these messages, which a node cannot unpack.
		value, err := proto.Marshal(resp)
		if err != nil {
			return nil, err
		}
		detail := &anypbv1.Any{TypeUrl: "type.googleapis.com/http.HandleSimpleHTTPResponse", Value: value}
		return nil, status.ErrorProto(&spb.Status{Code: int32(rec.Code), Message: string(resp.Body), Details: []*anypbv1.Any{detail}})
	}
	return resp, nil
}

// remoteWriter is an http.ResponseWriter over the node's http.responsewriter.Writer.
type remoteWriter struct {
	ctx    context.Context
	client responsewriterpb.WriterClient
	header http.Header
	err    error
}

func (w *remoteWriter) headers() []*responsewriterpb.Header {
	out := make([]*responsewriterpb.Header, 0, len(w.header))
	for k, v := range w.header {
		out = append(out, &responsewriterpb.Header{Key: k, Values: v})
	}
	return out
}

func (w *remoteWriter) Header() http.Header { return w.header }

func (w *remoteWriter) WriteHeader(code int) {
	if _, err := w.client.WriteHeader(w.ctx, &responsewriterpb.WriteHeaderRequest{Headers: w.headers(), StatusCode: int32(code)}); err != nil && w.err == nil {
		w.err = err
	}
}

func (w *remoteWriter) Write(p []byte) (int, error) {
	resp, err := w.client.Write(w.ctx, &responsewriterpb.WriteRequest{Headers: w.headers(), Payload: p})
	if err != nil {
		if w.err == nil {
			w.err = err
		}
		return 0, err
	}
	return int(resp.Written), nil
}

func (w *remoteWriter) Flush() {
	if _, err := w.client.Flush(w.ctx, &emptypb.Empty{}); err != nil && w.err == nil {
		w.err = err
	}
}

// remoteReader is the request body read from the node's io.reader.Reader.
type remoteReader struct {
	ctx    context.Context
	client readerpb.ReaderClient
}

func (r *remoteReader) Read(p []byte) (int, error) {
	resp, err := r.client.Read(r.ctx, &readerpb.ReadRequest{Length: int32(len(p))})
	if err != nil {
		return 0, err
	}
	n := copy(p, resp.Read)
	if resp.Error != nil {
		if resp.Error.ErrorCode == readerpb.ErrorCode_ERROR_CODE_EOF {
			return n, io.EOF
		}
		return n, errors.New(resp.Error.Message)
	}
	return n, nil
}

func (s *httpServer) Handle(ctx context.Context, req *httppb.HTTPRequest) (*httppb.HTTPResponse, error) {
	if req.ResponseWriter == nil || req.Request == nil {
		return nil, status.Error(codes.InvalidArgument, "response_writer and request are required")
	}
	dialCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := grpc.DialContext(dialCtx, req.ResponseWriter.ServerAddr, grpc.WithInsecure(), grpc.WithBlock())
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	w := &remoteWriter{ctx: ctx, client: responsewriterpb.NewWriterClient(conn), header: http.Header{}}
	for _, e := range req.ResponseWriter.Header {
		w.header[e.Key] = e.Values
	}
	var body io.Reader = bytes.NewReader(req.Request.Body)
	if len(req.Request.Body) == 0 && req.Request.ContentLength != 0 {
		body = &remoteReader{ctx: ctx, client: readerpb.NewReaderClient(conn)}
	}
	r, err := http.NewRequestWithContext(ctx, req.Request.Method, req.Request.RequestUri, body)
	if err != nil {
		return nil, err
	}
	for _, e := range req.Request.Header {
		r.Header[e.Key] = e.Values
	}
	r.RequestURI = req.Request.RequestUri
	r.Host = req.Request.Host
	r.ContentLength = req.Request.ContentLength
	r.RemoteAddr = req.Request.RemoteAddr
	s.handler.ServeHTTP(w, r)
	return &httppb.HTTPResponse{Header: elements(w.header)}, w.err
}

var (
	apiOnce sync.Once
	apiAddr string
	apiErr  error
)

// CreateHandlers serves the API on one gRPC server for the life of the process.
func (vm *chainVM) CreateHandlers(context.Context, *emptypb.Empty) (*vmpb.CreateHandlersResponse, error) {
	apiOnce.Do(func() {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			apiErr = err
			return
		}
		server := grpc.NewServer(grpc.MaxRecvMsgSize(1<<30), grpc.MaxSendMsgSize(1<<30))
		httppb.RegisterHTTPServer(server, &httpServer{handler: http.HandlerFunc(apiHandler)})
		go server.Serve(lis)
		apiAddr = lis.Addr().String()
	})
	if apiErr != nil {
		return nil, apiErr
	}
	return &vmpb.CreateHandlersResponse{Handlers: []*vmpb.Handler{{Prefix: "/go", ServerAddr: apiAddr}}}, nil
}
