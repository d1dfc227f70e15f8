package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"odradek.test/gointerop/internal/wire"
)

// security is how the client reaches a secured listener: TLS (a CA to trust, and a client
// certificate) and SASL (PLAIN, SCRAM-SHA-256/512 or OAUTHBEARER with a given token).
type security struct {
	ca, cert, key           string
	mechanism, user, secret string
	token                   string
	records                 int
}

func (s *security) register(fs *flag.FlagSet) {
	fs.StringVar(&s.ca, "tls-ca", "", "PEM file of the CA to trust (turns TLS on)")
	fs.StringVar(&s.cert, "tls-cert", "", "PEM client certificate (with --tls-key)")
	fs.StringVar(&s.key, "tls-key", "", "PEM client key")
	fs.StringVar(&s.mechanism, "sasl", "", "PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER")
	fs.StringVar(&s.user, "user", "", "SASL user")
	fs.StringVar(&s.secret, "password", "", "SASL password")
	fs.StringVar(&s.token, "token", "", "OAUTHBEARER token")
	fs.IntVar(&s.records, "records", 20, "roundtrip: records to produce and consume")
}

func (s *security) opts() []kgo.Opt {
	var out []kgo.Opt
	if s.ca != "" {
		pem, err := os.ReadFile(s.ca)
		if err != nil {
			wire.Fatal("--tls-ca: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			wire.Fatal("--tls-ca: no certificate in %s", s.ca)
		}
		conf := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		if s.cert != "" {
			pair, err := tls.LoadX509KeyPair(s.cert, s.key)
			if err != nil {
				wire.Fatal("--tls-cert/--tls-key: %v", err)
			}
			conf.Certificates = []tls.Certificate{pair}
		}
		// the host name is checked against the broker's certificate (kgo sets ServerName per broker)
		out = append(out, kgo.DialTLSConfig(conf))
	}
	switch s.mechanism {
	case "":
	case "PLAIN":
		out = append(out, kgo.SASL(plain.Auth{User: s.user, Pass: s.secret}.AsMechanism()))
	case "SCRAM-SHA-256":
		out = append(out, kgo.SASL(scram.Auth{User: s.user, Pass: s.secret}.AsSha256Mechanism()))
	case "SCRAM-SHA-512":
		out = append(out, kgo.SASL(scram.Auth{User: s.user, Pass: s.secret}.AsSha512Mechanism()))
	case "OAUTHBEARER":
		out = append(out, kgo.SASL(oauth.Auth{Token: s.token}.AsMechanism()))
	default:
		wire.Fatal("unknown --sasl %q", s.mechanism)
	}
	return out
}

// roundtrip produces --records keyed records to --topic, reads them back as a member of --group
// and commits. Errors are reported, never fatal: {"produced", "consumed", "committed", "error",
// "auth_error"} (auth_error: the error is the broker refusing our credentials or certificate).
func roundtrip(f flags) {
	ctx, cancel := context.WithTimeout(context.Background(), wire.Deadline(f.Timeout))
	defer cancel()
	out := map[string]any{"produced": 0, "consumed": 0, "committed": false, "error": "", "auth_error": false}
	fail := func(err error) {
		out["error"] = err.Error()
		var ke *kerr.Error
		out["auth_error"] = errors.As(err, &ke) && (ke == kerr.SaslAuthenticationFailed || ke == kerr.IllegalSaslState ||
			ke == kerr.UnsupportedSaslMechanism)
		wire.Emit(out)
	}
	n := f.sec.records
	prod := newClient(f, kgo.DefaultProduceTopic(f.Topic), kgo.ProducerLinger(5*time.Millisecond))
	// kgo retries metadata on a refused login for seconds: a ping reports the refusal at once
	if err := prod.Ping(ctx); err != nil {
		prod.Close()
		fail(fmt.Errorf("ping: %w", err))
		return
	}
	var recs []*kgo.Record
	for i := 0; i < n; i++ {
		recs = append(recs, &kgo.Record{Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte(fmt.Sprintf("franz %d", i))})
	}
	if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		prod.Close()
		fail(fmt.Errorf("produce: %w", err))
		return
	}
	prod.Close()
	out["produced"] = n
	cons := newClient(f, kgo.ConsumerGroup(f.Group), kgo.ConsumeTopics(f.Topic), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	defer cons.Close()
	got := 0
	for got < n {
		fetches := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			fail(fmt.Errorf("consumed %d of %d when the deadline passed", got, n))
			return
		}
		for _, fe := range fetches.Errors() {
			if !kerr.IsRetriable(fe.Err) {
				fail(fmt.Errorf("fetch: %w", fe.Err))
				return
			}
		}
		got += len(fetches.Records())
	}
	out["consumed"] = got
	if err := cons.CommitUncommittedOffsets(ctx); err != nil {
		fail(fmt.Errorf("commit: %w", err))
		return
	}
	out["committed"] = true
	wire.Emit(out)
}
