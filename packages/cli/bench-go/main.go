// cozebus-bench-go: the Go client's ceiling for `cozebus bench`, on the same
// server in the same run. One mode per invocation; every result is one JSON
// line on stdout, which the bench parses. Bounded by -n / -seconds.
package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"sort"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

type line map[string]any

func emit(l line) {
	b, _ := json.Marshal(l)
	fmt.Println(string(b))
}

func fail(err error) {
	emit(line{"error": err.Error()})
	os.Exit(1)
}

func freshStream(ctx context.Context, js jetstream.JetStream, name, subject string) jetstream.Stream {
	_ = js.DeleteStream(ctx, name)
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{subject}, MaxBytes: 512 << 20})
	if err != nil {
		fail(err)
	}
	return s
}

func main() {
	url := flag.String("url", "nats://127.0.0.1:4222", "server")
	mode := flag.String("mode", "publish", "publish | consume | latency")
	n := flag.Int("n", 20000, "messages (publish, consume)")
	rate := flag.Int("rate", 1000, "offered events/s (latency)")
	seconds := flag.Float64("seconds", 10, "duration (latency)")
	size := flag.Int("size", 128, "payload bytes")
	stream := flag.String("stream", "COZEBUS_BENCH_GO", "stream name (created and deleted)")
	flag.Parse()

	nc, err := nats.Connect(*url)
	if err != nil {
		fail(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(256))
	if err != nil {
		fail(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	subject := "cozebus_bench.go." + *mode
	defer func() { _ = js.DeleteStream(context.Background(), *stream) }()
	payload := make([]byte, *size)

	switch *mode {
	case "publish":
		s := freshStream(ctx, js, *stream, subject)
		t0 := time.Now()
		for i := 0; i < *n; i++ {
			if _, err := js.PublishAsync(subject, payload); err != nil {
				fail(err)
			}
		}
		select {
		case <-js.PublishAsyncComplete():
		case <-ctx.Done():
			fail(ctx.Err())
		}
		el := time.Since(t0).Seconds()
		info, err := s.Info(ctx)
		if err != nil {
			fail(err)
		}
		emit(line{"mode": "publish", "n": *n, "stored": info.State.Msgs, "rate": float64(*n) / el})
	case "consume":
		freshStream(ctx, js, *stream, subject)
		for i := 0; i < *n; i++ {
			if _, err := js.PublishAsync(subject, payload); err != nil {
				fail(err)
			}
		}
		<-js.PublishAsyncComplete()
		c, err := js.CreateOrUpdateConsumer(ctx, *stream, jetstream.ConsumerConfig{Durable: "go", AckPolicy: jetstream.AckExplicitPolicy})
		if err != nil {
			fail(err)
		}
		var got atomic.Int64
		done := make(chan struct{})
		t0 := time.Now()
		cc, err := c.Consume(func(m jetstream.Msg) {
			_ = m.Ack()
			if got.Add(1) == int64(*n) {
				close(done)
			}
		})
		if err != nil {
			fail(err)
		}
		select {
		case <-done:
		case <-ctx.Done():
			fail(fmt.Errorf("consume: %d of %d arrived", got.Load(), *n))
		}
		el := time.Since(t0).Seconds()
		cc.Stop()
		emit(line{"mode": "consume", "n": *n, "received": got.Load(), "rate": float64(*n) / el})
	case "latency":
		latency(ctx, js, *stream, subject, *rate, *seconds, payload)
	default:
		fail(fmt.Errorf("unknown -mode %q", *mode))
	}
}

// latency publishes at a fixed offered rate (async, acks counted) to a
// durable consumer on the same connection; each payload carries its
// scheduled send time, so a stalled sender is charged too.
func latency(ctx context.Context, js jetstream.JetStream, stream, subject string, rate int, seconds float64, payload []byte) {
	freshStream(ctx, js, stream, subject)
	c, err := js.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{Durable: "go_latency", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		fail(err)
	}
	total := int(math.Round(float64(rate) * seconds))
	if len(payload) < 12 {
		payload = make([]byte, 12)
	}
	origin := time.Now()
	lat := make([]float64, total)
	seen := make([]bool, total)
	var got atomic.Int64
	done := make(chan struct{})
	cc, err := c.Consume(func(m jetstream.Msg) {
		now := time.Since(origin).Seconds() * 1000
		d := m.Data()
		due := math.Float64frombits(binary.LittleEndian.Uint64(d[0:8]))
		i := int(binary.LittleEndian.Uint32(d[8:12]))
		_ = m.Ack()
		if i < total && !seen[i] {
			seen[i] = true
			lat[i] = now - due
			if got.Add(1) == int64(total) {
				close(done)
			}
		}
	})
	if err != nil {
		fail(err)
	}
	defer cc.Stop()
	t0 := time.Since(origin).Seconds()*1000 + 5
	for i := 0; i < total; i++ {
		due := t0 + float64(i)*1000/float64(rate)
		if wait := due - time.Since(origin).Seconds()*1000; wait > 0 {
			time.Sleep(time.Duration(wait * float64(time.Millisecond)))
		}
		buf := make([]byte, len(payload))
		binary.LittleEndian.PutUint64(buf[0:8], math.Float64bits(due))
		binary.LittleEndian.PutUint32(buf[8:12], uint32(i))
		if _, err := js.PublishAsync(subject, buf); err != nil {
			fail(err)
		}
	}
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		fail(fmt.Errorf("latency: %d of %d arrived", got.Load(), total))
	}
	<-js.PublishAsyncComplete()
	sort.Float64s(lat)
	q := func(p float64) float64 { return lat[int(math.Min(float64(total-1), math.Floor(p*float64(total))))] }
	emit(line{"mode": "latency", "rate": rate, "sent": total, "received": got.Load(), "p50": q(0.5), "p99": q(0.99), "p999": q(0.999), "max": lat[total-1]})
}
