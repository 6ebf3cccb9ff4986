package wire

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	healthpb "vmre/gen/grpc/health/v1"
)

// Health answers grpc.health.v1.Health with SERVING for the whole server ("") and
// NOT_FOUND for any other service name, like every server of the Go nodes.
type Health struct {
	healthpb.UnimplementedHealthServer
}

func (Health) Check(_ context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	if req.GetService() != "" {
		return nil, status.Errorf(codes.NotFound, "unknown service %q", req.GetService())
	}
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, nil
}

func (Health) Watch(req *healthpb.HealthCheckRequest, stream healthpb.Health_WatchServer) error {
	st := healthpb.HealthCheckResponse_SERVING
	if req.GetService() != "" {
		st = healthpb.HealthCheckResponse_SERVICE_UNKNOWN
	}
	if err := stream.Send(&healthpb.HealthCheckResponse{Status: st}); err != nil {
		return err
	}
	<-stream.Context().Done() // the status never changes
	return nil
}
