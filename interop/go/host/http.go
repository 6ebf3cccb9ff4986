package main

// HTTP over gRPC from the node's side, as the Go nodes proxy a VM's API: CreateHandlers, then
// each -http call to the handler with the longest matching prefix, through HandleSimple
// (whole bodies; a 500 unpacked from the gRPC error's detail) or Handle (a per-request server
// with http.responsewriter.Writer and io.reader.Reader that the VM dials).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"

	httppb "vmre/gen/http"
	responsewriterpb "vmre/gen/http/responsewriter"
	readerpb "vmre/gen/io/reader"
	vmpb "vmre/gen/vm"
)

// chainRoute is where this host mounts the chain's handlers (a Go node uses the chain ID).
const chainRoute = "/ext/bc/host-chain"

// httpCalls is the repeatable -http flag: MODE:METHOD:PATH[:BODY], MODE simple or stream.
type httpCalls []string

func (c *httpCalls) String() string     { return strings.Join(*c, ",") }
func (c *httpCalls) Set(v string) error { *c = append(*c, v); return nil }

// httpResult is one call as the client of the node would have seen it.
type httpResult struct {
	Call    string              `json:"call"`
	Status  int32               `json:"status"`
	Headers map[string][]string `json:"headers,omitempty"`
	Body    string              `json:"body"`
	Error   string              `json:"error,omitempty"`
}

func headerMap(elems []*httppb.Element) map[string][]string {
	out := map[string][]string{}
	for _, e := range elems {
		out[e.Key] = e.Values
	}
	return out
}

// recorder is the response writer the VM writes a streamed response to.
type recorder struct {
	responsewriterpb.UnimplementedWriterServer
	readerpb.UnimplementedReaderServer
	mu      sync.Mutex
	status  int32
	headers map[string][]string
	body    bytes.Buffer
	request io.Reader
}

func (r *recorder) setHeaders(hs []*responsewriterpb.Header) {
	r.headers = map[string][]string{}
	for _, h := range hs {
		r.headers[h.Key] = h.Values
	}
}

func (r *recorder) Write(_ context.Context, req *responsewriterpb.WriteRequest) (*responsewriterpb.WriteResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.setHeaders(req.Headers)
	if r.status == 0 {
		r.status = 200
	}
	n, _ := r.body.Write(req.Payload)
	return &responsewriterpb.WriteResponse{Written: int32(n)}, nil
}

func (r *recorder) WriteHeader(_ context.Context, req *responsewriterpb.WriteHeaderRequest) (*emptypb.Empty, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.setHeaders(req.Headers)
	if r.status == 0 {
		r.status = req.StatusCode
	}
	return &emptypb.Empty{}, nil
}

func (r *recorder) Flush(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

func (r *recorder) Read(_ context.Context, req *readerpb.ReadRequest) (*readerpb.ReadResponse, error) {
	buf := make([]byte, req.Length)
	n, err := r.request.Read(buf)
	resp := &readerpb.ReadResponse{Read: buf[:n]}
	if err != nil {
		resp.Error = &readerpb.Error{Message: err.Error()}
		if errors.Is(err, io.EOF) {
			resp.Error.ErrorCode = readerpb.ErrorCode_ERROR_CODE_EOF
		}
	}
	return resp, nil
}

// simpleFromError is the response a VM's 500 carries as its one detail, if it does.
func simpleFromError(err error) (*httppb.HandleSimpleHTTPResponse, bool) {
	st, ok := status.FromError(err)
	if !ok || len(st.Proto().Details) != 1 {
		return nil, false
	}
	detail := st.Proto().Details[0]
	if !strings.HasSuffix(detail.TypeUrl, "/http.HandleSimpleHTTPResponse") {
		return nil, false
	}
	var resp httppb.HandleSimpleHTTPResponse
	if proto.Unmarshal(detail.Value, &resp) != nil {
		return nil, false
	}
	return &resp, true
}

func runHTTPCalls(vm vmpb.VMClient, o options) ([]httpResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), o.callTimeout)
	defer cancel()
	handlers, err := vm.CreateHandlers(ctx, &emptypb.Empty{})
	if err != nil {
		return nil, fmt.Errorf("CreateHandlers: %v", err)
	}
	var results []httpResult
	for _, c := range o.httpCalls {
		parts := strings.SplitN(c, ":", 4)
		if len(parts) < 3 {
			return results, fmt.Errorf("-http %q: want MODE:METHOD:PATH[:BODY]", c)
		}
		mode, method, path := parts[0], parts[1], parts[2]
		body := ""
		if len(parts) == 4 {
			body = parts[3]
		}
		var handler *vmpb.Handler
		for _, h := range handlers.Handlers {
			if strings.HasPrefix(path, h.Prefix) && (handler == nil || len(h.Prefix) > len(handler.Prefix)) {
				handler = h
			}
		}
		res := httpResult{Call: c}
		if handler == nil {
			res.Status, res.Body = 404, "404 page not found\n"
			results = append(results, res)
			continue
		}
		conn, err := grpc.DialContext(ctx, handler.ServerAddr, grpc.WithInsecure(), grpc.WithBlock())
		if err != nil {
			return results, fmt.Errorf("dial handler %s: %v", handler.Prefix, err)
		}
		client := httppb.NewHTTPClient(conn)
		target := chainRoute + path
		headers := []*httppb.Element{{Key: "Content-Type", Values: []string{"application/json"}}}
		if mode == "simple" {
			resp, err := client.HandleSimple(ctx, &httppb.HandleSimpleHTTPRequest{Method: method, Url: target, Body: []byte(body), RequestHeaders: headers})
			if err != nil {
				if unpacked, ok := simpleFromError(err); ok {
					resp = unpacked
				} else {
					res.Status, res.Error = 500, err.Error()
				}
			}
			if resp != nil {
				res.Status, res.Headers, res.Body = resp.Code, headerMap(resp.Headers), string(resp.Body)
			}
		} else {
			rec, err := handleStreamed(ctx, client, method, target, body, headers)
			if err != nil {
				res.Error = err.Error()
			}
			res.Status, res.Headers, res.Body = rec.status, rec.headers, rec.body.String()
		}
		conn.Close()
		results = append(results, res)
	}
	return results, nil
}

func handleStreamed(ctx context.Context, client httppb.HTTPClient, method, target, body string, headers []*httppb.Element) (*recorder, error) {
	rec := &recorder{request: strings.NewReader(body)}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return rec, err
	}
	server := grpc.NewServer()
	responsewriterpb.RegisterWriterServer(server, rec)
	readerpb.RegisterReaderServer(server, rec)
	go server.Serve(lis)
	defer server.Stop()
	reply, err := client.Handle(ctx, &httppb.HTTPRequest{
		ResponseWriter: &httppb.ResponseWriter{ServerAddr: lis.Addr().String()},
		Request: &httppb.Request{
			Method:        method,
			Url:           &httppb.URL{Path: target},
			Proto:         "HTTP/1.1",
			ProtoMajor:    1,
			ProtoMinor:    1,
			Header:        headers,
			ContentLength: int64(len(body)),
			Host:          "127.0.0.1",
			RequestUri:    target,
		},
	})
	if err != nil {
		return rec, err
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.status == 0 {
		// Nothing written: the reply's headers and 200, as a Go server finishes a response.
		rec.status, rec.headers = 200, headerMap(reply.Header)
	}
	return rec, nil
}
