package task

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	eventsapi "github.com/containerd/containerd/api/services/ttrpc/events/v1"
	"github.com/containerd/containerd/api/types"
	"github.com/containerd/log"
	"github.com/containerd/ttrpc"
	"github.com/containerd/typeurl/v2"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Publisher sends events to containerd's ttrpc events service
// (TTRPC_ADDRESS), in the order they were published, from one goroutine.
// A failed send is retried with a capped backoff for RetryWindow, so an
// exit that happens while containerd restarts still reaches it; after
// Close the remaining events get only closeWindow.
type Publisher struct {
	address   string
	namespace string

	// RetryWindow bounds the retries of one event (DefaultRetryWindow).
	// Set before the first Publish.
	RetryWindow time.Duration

	qmu     sync.Mutex    // guards closed and sends on queue
	closed  bool          // guarded by qmu
	queue   chan envelope // closed by Close
	closing chan struct{} // closed by Close: retries shrink to closeWindow
	done    chan struct{} // closed when run returns

	mu     sync.Mutex    // guards client
	client *ttrpc.Client // guarded by mu; nil until the first send
}

type envelope struct {
	topic string
	event *types.Envelope
}

const (
	// DefaultRetryWindow is how long one event is retried: longer than
	// a containerd restart takes (1–3 s here), short enough that a shim
	// whose containerd is gone for good does not queue forever.
	DefaultRetryWindow = 2 * time.Minute
	// closeWindow bounds the retries of what is left at Close.
	closeWindow    = 5 * time.Second
	publishTimeout = 5 * time.Second
	backoffStart   = 50 * time.Millisecond
	backoffMax     = 2 * time.Second
)

// NewPublisher starts a publisher to address (unix socket, with or
// without "unix://"). An empty address drops every event.
func NewPublisher(ctx context.Context, address, namespace string) *Publisher {
	p := &Publisher{
		address:     strings.TrimPrefix(address, "unix://"),
		namespace:   namespace,
		RetryWindow: DefaultRetryWindow,
		queue:       make(chan envelope, 1024),
		done:        make(chan struct{}),
		closing:     make(chan struct{}),
	}
	go p.run(ctx)
	return p
}

// Publish queues event under topic.
func (p *Publisher) Publish(ctx context.Context, topic string, event any) {
	a, err := typeurl.MarshalAnyToProto(event)
	if err != nil {
		log.G(ctx).WithError(err).WithField("topic", topic).Error("marshal event")
		return
	}
	env := &types.Envelope{Timestamp: timestamppb.Now(), Namespace: p.namespace, Topic: topic, Event: a}
	p.qmu.Lock()
	defer p.qmu.Unlock()
	if p.closed {
		log.G(ctx).WithField("topic", topic).Warn("event after shutdown dropped")
		return
	}
	p.queue <- envelope{topic, env}
}

// Close sends what is queued and stops.
func (p *Publisher) Close() {
	p.qmu.Lock()
	if !p.closed {
		p.closed = true
		close(p.queue)
		close(p.closing)
	}
	p.qmu.Unlock()
	<-p.done
}

func (p *Publisher) run(ctx context.Context) {
	defer close(p.done)
	defer func() {
		p.mu.Lock()
		if p.client != nil {
			p.client.Close()
		}
		p.mu.Unlock()
	}()
	for e := range p.queue {
		if p.address == "" {
			continue
		}
		err := p.deliver(ctx, e.event)
		if err != nil {
			log.G(ctx).WithError(err).WithField("topic", e.topic).Error("publish event: dropped")
		} else {
			log.G(ctx).WithField("topic", e.topic).Debug("event published")
		}
	}
}

// deliver sends env, retrying with a doubling, capped backoff until
// RetryWindow has passed (closeWindow once Close was called).
func (p *Publisher) deliver(ctx context.Context, env *types.Envelope) error {
	start := time.Now()
	backoff := backoffStart
	closing := p.closing // nil once seen closed, so it wakes the wait once
	for attempt := 1; ; attempt++ {
		err := p.send(ctx, env)
		if err == nil {
			if attempt > 1 {
				log.G(ctx).WithFields(log.Fields{"topic": env.Topic, "attempts": attempt}).Info("event published after retries")
			}
			return nil
		}
		window := p.RetryWindow
		select {
		case <-p.closing:
			window = min(window, closeWindow)
			closing = nil
		default:
		}
		if time.Since(start)+backoff > window {
			return fmt.Errorf("after %d attempts in %s: %w", attempt, time.Since(start).Round(time.Millisecond), err)
		}
		if attempt == 1 {
			log.G(ctx).WithError(err).WithField("topic", env.Topic).Warn("publish event failed; retrying (containerd restarting?)")
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-closing:
			t.Stop()
			closing = nil
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
		backoff = min(2*backoff, backoffMax)
	}
}

func (p *Publisher) send(ctx context.Context, env *types.Envelope) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.client == nil {
		conn, err := net.DialTimeout("unix", p.address, publishTimeout)
		if err != nil {
			return err
		}
		p.client = ttrpc.NewClient(conn)
	}
	cctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	_, err := eventsapi.NewTTRPCEventsClient(p.client).Forward(cctx, &eventsapi.ForwardRequest{Envelope: env})
	if err != nil {
		// Reconnect on the next try.
		p.client.Close()
		p.client = nil
	}
	return err
}
