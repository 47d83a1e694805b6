package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// families gathers reg and returns the claimgate families by name.
func families(t *testing.T, reg prometheus.Gatherer) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gathering: %v", err)
	}
	out := make(map[string]*dto.MetricFamily)
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "claimgate_") {
			out[mf.GetName()] = mf
		}
	}
	return out
}

// TestContract checks every metric of the operations contract: name, type
// and label names, each series present from the start (so that rate() and
// absent() work before the first event).
func TestContract(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	set, release, err := Acquire(reg)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	set.WatchDatabase(func() bool { return true })
	set.WatchSigningKeys(func() KeyCounts { return KeyCounts{Pending: 1, Active: 1, Retired: 2} })

	want := []struct {
		name   string
		typ    dto.MetricType
		labels []string
		series int
	}{
		{"claimgate_logins_total", dto.MetricType_COUNTER, []string{"grant", "outcome"}, 5 * 7},
		{"claimgate_verify_total", dto.MetricType_COUNTER, []string{"outcome"}, 5},
		{"claimgate_password_hash_seconds", dto.MetricType_HISTOGRAM, []string{"format"}, 4},
		{"claimgate_hash_queue_wait_seconds", dto.MetricType_HISTOGRAM, nil, 1},
		{"claimgate_database_query_seconds", dto.MetricType_HISTOGRAM, []string{"query"}, 6},
		{"claimgate_database_up", dto.MetricType_GAUGE, nil, 1},
		{"claimgate_blocks_total", dto.MetricType_COUNTER, []string{"kind"}, 3},
		{"claimgate_refresh_reuse_total", dto.MetricType_COUNTER, nil, 1},
		{"claimgate_signing_keys", dto.MetricType_GAUGE, []string{"state"}, 3},
		{"claimgate_remote_jwks_fetches_total", dto.MetricType_COUNTER, []string{"outcome"}, 3},
	}
	got := families(t, reg)
	if len(got) != len(want) {
		t.Errorf("%d claimgate metrics, want %d", len(got), len(want))
	}
	for _, w := range want {
		mf, ok := got[w.name]
		if !ok {
			t.Errorf("%s is missing", w.name)
			continue
		}
		if mf.GetType() != w.typ {
			t.Errorf("%s is a %s, want %s", w.name, mf.GetType(), w.typ)
		}
		if len(mf.Metric) != w.series {
			t.Errorf("%s has %d series, want %d", w.name, len(mf.Metric), w.series)
		}
		for _, m := range mf.Metric {
			var names []string
			for _, lp := range m.Label {
				names = append(names, lp.GetName())
			}
			if strings.Join(names, ",") != strings.Join(w.labels, ",") {
				t.Errorf("%s has labels %v, want %v", w.name, names, w.labels)
			}
		}
	}
}

// TestLabelValues checks the label values against the contract's lists.
func TestLabelValues(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	set, release, err := Acquire(reg)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	set.WatchSigningKeys(func() KeyCounts { return KeyCounts{} })
	want := map[string]map[string][]string{
		"claimgate_logins_total": {
			"grant":   {"password", "refresh_token", "authorization_code", "client_credentials", "login_page"},
			"outcome": {"success", "wrong_credentials", "blocked", "denied", "invalid_request", "invalid_client", "unavailable"},
		},
		"claimgate_verify_total":           {"outcome": {"ok", "anonymous", "missing", "invalid", "forbidden"}},
		"claimgate_password_hash_seconds":  {"format": {"bcrypt", "argon2id", "pbkdf2", "dummy"}},
		"claimgate_database_query_seconds": {"query": {"user", "user_id", "roles", "permissions", "organization", "state"}},
		"claimgate_blocks_total":           {"kind": {"user_ip", "ip", "account"}},
		"claimgate_signing_keys":           {"state": {"pending", "active", "retired"}},
	}
	got := families(t, reg)
	for name, labels := range want {
		seen := map[string]map[string]bool{}
		for _, m := range got[name].GetMetric() {
			for _, lp := range m.Label {
				if seen[lp.GetName()] == nil {
					seen[lp.GetName()] = map[string]bool{}
				}
				seen[lp.GetName()][lp.GetValue()] = true
			}
		}
		for label, values := range labels {
			if len(seen[label]) != len(values) {
				t.Errorf("%s{%s} has values %v, want %v", name, label, seen[label], values)
			}
			for _, v := range values {
				if !seen[label][v] {
					t.Errorf("%s{%s=%q} is missing", name, label, v)
				}
			}
		}
	}
}

// TestAcquireOncePerRegistry: the modules of one config (the app, two
// claimgate_verify handlers) share one Set and register nothing twice; a
// reload's new registry gets a Set of its own; the last release forgets it.
func TestAcquireOncePerRegistry(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	a, releaseA, err := Acquire(reg)
	if err != nil {
		t.Fatal(err)
	}
	b, releaseB, err := Acquire(reg)
	if err != nil {
		t.Fatalf("second module of the same config: %v", err)
	}
	if a != b {
		t.Error("two modules of one config got different sets")
	}
	a.Login(GrantPassword, OutcomeSuccess)
	b.Login(GrantPassword, OutcomeSuccess)
	if n := value(t, a.logins[GrantPassword][OutcomeSuccess]); n != 2 {
		t.Errorf("logins = %v, want 2", n)
	}

	// A reload: a new registry while the old config still runs.
	reg2 := prometheus.NewPedanticRegistry()
	c, releaseC, err := Acquire(reg2)
	if err != nil {
		t.Fatalf("reload: %v", err)
	}
	defer releaseC()
	if c == a {
		t.Error("the new config's registry got the old config's set")
	}
	if _, err := reg2.Gather(); err != nil {
		t.Errorf("gathering the new registry: %v", err)
	}

	releaseA()
	releaseA() // idempotent
	sets.Lock()
	_, held := sets.m[reg]
	sets.Unlock()
	if !held {
		t.Error("the set was forgotten while a module still holds it")
	}
	releaseB()
	sets.Lock()
	_, held = sets.m[reg]
	sets.Unlock()
	if held {
		t.Error("the set outlived the config's last module")
	}
}

// TestAcquireRefusesForeignCollision: a registry that already has a
// collector of the same name (another plugin) is an error, not a panic.
func TestAcquireRefusesForeignCollision(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "claimgate_refresh_reuse_total", Help: "x"}))
	if _, _, err := Acquire(reg); err == nil {
		t.Fatal("Acquire succeeded over a colliding collector")
	}
	// Nothing half-registered stays behind.
	if got := families(t, reg); len(got) != 1 {
		t.Errorf("after the failed Acquire the registry has %d claimgate metrics, want 1", len(got))
	}
}

// TestObservations checks what each method records, and that values
// outside the lists are not recorded (no label comes from input).
func TestObservations(t *testing.T) {
	set, release, err := Acquire(prometheus.NewPedanticRegistry())
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	set.PasswordHash("bcrypt", 50*time.Millisecond)
	set.PasswordHash("pbkdf2_sha256", time.Millisecond) // password.Kind's name
	set.PasswordHash("unknown", time.Millisecond)       // not recorded
	set.DatabaseQuery("user", time.Millisecond)
	set.DatabaseQuery("rehash", time.Millisecond) // not in the contract
	set.Blocked(BlockIP)
	set.Blocked("user+ip") // not a kind
	set.JWKSFetch("ok")
	set.JWKSFetch("nonsense")
	set.RefreshReused()
	set.HashQueueWait(time.Millisecond)
	set.VerifyCounters()[VerifyForbidden].Inc()

	checks := []struct {
		name string
		got  uint64
		want uint64
	}{
		{"bcrypt", histCount(t, set.passwordHash[FormatBcrypt]), 1},
		{"pbkdf2", histCount(t, set.passwordHash[FormatPBKDF2]), 1},
		{"user query", histCount(t, set.dbQuery["user"]), 1},
		{"queue wait", histCount(t, set.hashQueueWait), 1},
		{"ip block", uint64(value(t, set.blocks[BlockIP])), 1},
		{"user_ip block", uint64(value(t, set.blocks[BlockUserIP])), 0},
		{"jwks ok", uint64(value(t, set.jwksFetches["ok"])), 1},
		{"reuse", uint64(value(t, set.refreshReuse)), 1},
		{"forbidden", uint64(value(t, set.verify[VerifyForbidden])), 1},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: %d observations, want %d", c.name, c.got, c.want)
		}
	}
	if len(set.passwordHash) != 4 || len(set.dbQuery) != 6 || len(set.blocks) != 3 || len(set.jwksFetches) != 3 {
		t.Error("an unknown value added a series")
	}
}

// value is a counter's value.
func value(t *testing.T, c prometheus.Metric) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func histCount(t *testing.T, o prometheus.Observer) uint64 {
	t.Helper()
	var m dto.Metric
	if err := o.(prometheus.Metric).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount()
}

// TestNilSet: a nil *Set (a module used without a config) counts nothing
// and does not panic.
func TestNilSet(t *testing.T) {
	var s *Set
	s.Login(GrantPassword, OutcomeSuccess)
	s.PasswordHash("bcrypt", time.Second)
	s.HashQueueWait(time.Second)
	s.Blocked(BlockIP)
	s.RefreshReused()
	s.DatabaseQuery("user", time.Second)
	s.JWKSFetch("ok")
	s.WatchDatabase(func() bool { return true })
	s.WatchSigningKeys(func() KeyCounts { return KeyCounts{} })
	s.VerifyCounters()[VerifyOK].Inc()
}

// TestVerifyCountIsAnAtomicAdd: counting a verification allocates nothing.
func TestVerifyCountIsAnAtomicAdd(t *testing.T) {
	set, release, err := Acquire(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	c := set.VerifyCounters()
	if n := testing.AllocsPerRun(1000, func() { c[VerifyOK].Inc() }); n != 0 {
		t.Errorf("counting allocates %v times", n)
	}
	if n := testing.AllocsPerRun(1000, func() { set.Login(GrantRefreshToken, OutcomeBlocked) }); n != 0 {
		t.Errorf("counting a login allocates %v times", n)
	}
}

func BenchmarkVerifyCount(b *testing.B) {
	set, release, err := Acquire(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	defer release()
	c := set.VerifyCounters()
	b.ReportAllocs()
	for b.Loop() {
		c[VerifyOK].Inc()
	}
}
