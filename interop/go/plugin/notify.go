package main

// With GO_PLUGIN_NOTIFY_MS=<n>, the plugin behaves as a VM built for luxd: every n ms it calls
// messenger.Messenger/Notify(BUILD_BLOCK) at server_addr, ignoring the answer ("full message
// queue" while one is pending), as luxd's VMs do.

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"google.golang.org/grpc"

	messengerpb "vmre/gen/messenger"
	"vmre/interop/internal/wire"
)

func startNotifying(serverAddr, every string) error {
	ms, err := strconv.Atoi(every)
	if err != nil || ms <= 0 {
		return fmt.Errorf("bad GO_PLUGIN_NOTIFY_MS %q", every)
	}
	conn, err := grpc.Dial(serverAddr, wire.DialOptions()...)
	if err != nil {
		return fmt.Errorf("dial server_addr: %w", err)
	}
	client := messengerpb.NewMessengerClient(conn)
	go func() {
		for range time.Tick(time.Duration(ms) * time.Millisecond) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_, _ = client.Notify(ctx, &messengerpb.NotifyRequest{Message: messengerpb.Message_MESSAGE_BUILD_BLOCK})
			cancel()
		}
	}()
	return nil
}
