package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/capture"
	"github.com/prov-dev/prov/tlog"
)

// Metrics are the server's Prometheus metrics. A nil *Metrics records
// nothing.
type Metrics struct {
	reg          *prometheus.Registry
	requests     *prometheus.HistogramVec
	ingested     prometheus.Counter
	ingestTime   prometheus.Histogram
	authFailures *prometheus.CounterVec
	verifies     *prometheus.CounterVec
	attributed   prometheus.Gauge
}

// Oldest reports the time of the oldest change not yet sequenced.
type Oldest interface {
	OldestPending(ctx context.Context) (time.Time, bool, error)
}

// NewMetrics registers the metrics of a server of log (and of capture, if
// not nil): request and ingest rates and latencies, auth failures, verify
// results, and, read at each scrape, the log size, the checkpoint age and the
// sequencer lag.
func NewMetrics(log *tlog.Log, capt capture.Capturer) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		reg: reg,
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "prov_http_request_duration_seconds", Help: "HTTP API requests by endpoint and outcome.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10}}, []string{"endpoint", "outcome"}),
		ingested: prometheus.NewCounter(prometheus.CounterOpts{Name: "prov_ingested_records_total", Help: "Records appended through the API (duplicates not counted)."}),
		ingestTime: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "prov_ingest_duration_seconds", Help: "Time to validate and durably append one request's records.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "prov_auth_failures_total", Help: "Requests refused for a missing, invalid or insufficient token."}, []string{"endpoint"}),
		verifies:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "prov_verify_total", Help: "Verifications run, by result (ok, damaged, error)."}, []string{"result"}),
		attributed:   prometheus.NewGauge(prometheus.GaugeOpts{Name: "prov_capture_attributed_ratio", Help: "Share of captured changes that carry an activity (at the last capture status)."}),
	}
	reg.MustRegister(m.requests, m.ingested, m.ingestTime, m.authFailures, m.verifies, m.attributed,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "prov_log_size", Help: "Records in the log."}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		n, err := log.Size(ctx)
		if err != nil {
			return -1
		}
		return float64(n)
	}))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "prov_checkpoint_age_seconds", Help: "Age of the latest signed checkpoint."}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		c, err := log.LatestCheckpoint(ctx)
		if err != nil {
			return -1
		}
		return time.Since(c.Created).Seconds()
	}))
	if o, ok := capt.(Oldest); ok && capt != nil {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "prov_sequencer_lag_seconds", Help: "Age of the oldest captured change not yet in the log (0: none)."}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			t, ok, err := o.OldestPending(ctx)
			switch {
			case err != nil:
				return -1
			case !ok:
				return 0
			}
			return time.Since(t).Seconds()
		}))
	}
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

func (m *Metrics) request(endpoint, outcome string, d time.Duration) {
	if m != nil {
		m.requests.WithLabelValues(endpoint, outcome).Observe(d.Seconds())
	}
}

func (m *Metrics) ingestedRecords(n int, d time.Duration) {
	if m != nil {
		m.ingested.Add(float64(n))
		m.ingestTime.Observe(d.Seconds())
	}
}

func (m *Metrics) authFailure(endpoint string) {
	if m != nil {
		m.authFailures.WithLabelValues(endpoint).Inc()
	}
}

func (m *Metrics) verified(err error) {
	if m == nil {
		return
	}
	switch {
	case err == nil:
		m.verifies.WithLabelValues("ok").Inc()
	case prov.IsKind(err, prov.Tampered):
		m.verifies.WithLabelValues("damaged").Inc()
	default:
		m.verifies.WithLabelValues("error").Inc()
	}
}

func (m *Metrics) coverage(st capture.Status) {
	if m != nil && st.Changes > 0 {
		m.attributed.Set(1 - st.Share)
	}
}
