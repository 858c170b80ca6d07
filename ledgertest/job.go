package ledgertest

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/avstudio/credits"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"pgregory.net/rapid"
)

// Job runs in the model and the state machine: a run holds its estimate,
// captures each step's lines once, fails by its policy, and holds again
// after a lapse (see the credits package doc, "Job runs").

// jobEstimates are the estimates the machine's runs start with, priced by
// the suite's tables: a prompt_to_mp4 job with uploads of three types (one
// of them free in v1), a json_to_mp4 job, and a prompt-only one.
var jobEstimates = sync.OnceValue(func() []credits.Estimate {
	jobs := []struct {
		version string
		job     credits.Job
	}{
		{v1Name, credits.Job{Pipeline: credits.PromptToMP4, Prompt: "a tour",
			Uploads:      []credits.Upload{{Name: "a.mp4"}, {Name: "b.mp4"}, {Name: "logo.png"}},
			RemoteAssets: []credits.RemoteAsset{{URL: "https://cdn.example.com/theme.mp3"}}}},
		{v2Name, credits.Job{Pipeline: credits.JSONToMP4, RemoteAssets: []credits.RemoteAsset{{URL: "https://cdn.example.com/clip.mov"}}}},
		{v1Name, credits.Job{Pipeline: credits.PromptToMP4, Prompt: "only a prompt"}},
	}
	var out []credits.Estimate
	for _, j := range jobs {
		table, err := priceBook().Version(j.version)
		if err != nil {
			panic(err)
		}
		est, err := table.EstimateJob(j.job)
		if err != nil {
			panic(err)
		}
		out = append(out, est)
	}
	return out
})

// stepOfAction is the step an estimate line's action belongs to.
func stepOfAction(a credits.Action) credits.JobStep {
	switch a {
	case credits.PublicAPIAICreation:
		return credits.StepAICreation
	case credits.Render:
		return credits.StepRender
	}
	return credits.StepUploads
}

// mJob is a run as the model sees it: what the ledger recorded of it, and
// what the machine's JobRun knows.
type mJob struct {
	account, key string
	est          credits.Estimate
	spender      string
	ttl          time.Duration
	holds        []int64
	captures     map[credits.JobStep][]int64 // recorded captures, by step
	refunded     map[credits.JobStep]bool    // a failure refunded the step
	done         map[credits.JobStep]bool    // as the JobRun knows (a free step: Complete was called)
	status       credits.JobStatus           // as the JobRun knows
	failed       bool                        // the JobRun failed
	failure      credits.FailureKind
	recorded     bool // the failure is in the ledger
}

func (j *mJob) steps() []credits.JobStep {
	var out []credits.JobStep
	for st := credits.StepUploads; st <= credits.StepRender; st++ {
		for _, l := range j.est.Lines {
			if stepOfAction(l.Action) == st {
				out = append(out, st)
				break
			}
		}
	}
	return out
}

func (j *mJob) amount(st credits.JobStep) credits.Credits {
	var sum credits.Credits
	for _, l := range j.est.Lines {
		if stepOfAction(l.Action) == st {
			sum += l.Subtotal
		}
	}
	return sum
}

func (j *mJob) paid(st credits.JobStep) []credits.EstimateLine {
	var out []credits.EstimateLine
	for _, l := range j.est.Lines {
		if stepOfAction(l.Action) == st && l.Subtotal > 0 {
			out = append(out, l)
		}
	}
	return out
}

// pending is what the steps not done (as done says) cost.
func (j *mJob) pending(done func(credits.JobStep) bool) credits.Credits {
	var p credits.Credits
	for _, st := range j.steps() {
		if !done(st) {
			p += j.amount(st)
		}
	}
	return p
}

func (j *mJob) localDone(st credits.JobStep) bool    { return j.done[st] }
func (j *mJob) recordedDone(st credits.JobStep) bool { return len(j.captures[st]) > 0 }

func (j *mJob) finished() bool { return j.failed || j.pending(j.localDone) == 0 }

func (j *mJob) hasStep(st credits.JobStep) bool { return slices.Contains(j.steps(), st) }

// run is the JobRun the model expects: the machine's (local), or the one
// Ledger.Job rebuilds at now.
func (m *model) run(j *mJob, rebuilt bool, now time.Time) *credits.JobRun {
	r := &credits.JobRun{Account: j.account, Key: j.key, Spender: j.spender, Estimate: j.est, Holds: slices.Clone(j.holds), Status: j.status, Failure: j.failure}
	done := j.localDone
	if rebuilt {
		done = j.recordedDone
		r.Failure = 0
		switch {
		case j.recorded:
			r.Status, r.Failure = credits.JobFailed, j.failure
		case j.pending(done) == 0:
			r.Status = credits.JobCompleted
		case slices.ContainsFunc(m.account(j.account).settled(now).holds, func(h mHold) bool { return h.id == j.holds[len(j.holds)-1] }):
			r.Status = credits.JobRunning
		default:
			r.Status = credits.JobLapsed
		}
	}
	for _, st := range j.steps() {
		r.Steps = append(r.Steps, credits.JobStepState{Step: st, Amount: j.amount(st), Done: done(st), Captures: j.captures[st], Refunded: j.refunded[st]})
	}
	return r
}

// resumed makes the model's JobRun the one Ledger.Job rebuilt at now.
func (m *model) resumed(j *mJob, now time.Time) {
	r := m.run(j, true, now)
	j.status, j.failed = r.Status, j.recorded
	if !j.recorded {
		j.failure = 0
	}
	j.done = make(map[credits.JobStep]bool)
	for _, st := range j.steps() {
		j.done[st] = j.recordedDone(st)
	}
}

// jobOutcome is what a write of a run must do: the entries it returns, or
// its error.
type jobOutcome struct {
	entries   []credits.Entry
	err       error
	shortfall credits.Credits
	over      *credits.BudgetExceededError
	replay    bool
}

func (m *model) jobOf(account, key string) *mJob { return m.jobs[[2]string{account, key}] }

// jobHold reports whether id is a hold of one of the account's runs.
func (m *model) jobHold(account string, id int64) bool {
	for k, j := range m.jobs {
		if k[0] == account && slices.Contains(j.holds, id) {
			return true
		}
	}
	return false
}

// startJob is StartJob at now.
func (m *model) startJob(r request, now time.Time) (jobOutcome, *mJob) {
	stored := m.account(r.account)
	est := jobEstimates()[r.estimate]
	if k, ok := stored.keys[r.key]; ok {
		if k.req != r {
			return jobOutcome{err: credits.ErrIdempotencyConflict}, nil
		}
		return jobOutcome{entries: []credits.Entry{stored.entries[k.entry-1]}, replay: true}, m.jobOf(r.account, r.key)
	}
	a := stored.clone()
	a.settle(now)
	deadline := r.expiresAt
	if deadline.IsZero() {
		deadline = now.Add(m.ttl)
	}
	if sf := m.shortfall(a, est.Total, now); sf > 0 {
		return jobOutcome{err: credits.ErrInsufficientCredits, shortfall: sf}, nil
	}
	if over := a.overBudget(r.spender, est.Total, now); over != nil {
		return jobOutcome{err: credits.ErrBudgetExceeded, over: over}, nil
	}
	e := credits.Entry{Kind: credits.KindHold, Held: est.Total, ExpiresAt: deadline, Spender: r.spender, MultiCapture: true,
		Lines: est.Lines, PriceVersion: est.PriceVersion, Key: r.key, Metadata: r.metadata()}
	a.holds = append(a.holds, mHold{id: a.nextID(), amount: est.Total, deadline: deadline, draws: a.reserve(est.Total, now), spender: r.spender, multi: true})
	e = a.record(e, now)
	a.keys[r.key] = mKey{r, e.ID}
	*stored = *a
	j := &mJob{account: r.account, key: r.key, est: est, spender: r.spender, ttl: deadline.Sub(now), holds: []int64{e.ID},
		captures: make(map[credits.JobStep][]int64), refunded: make(map[credits.JobStep]bool), done: make(map[credits.JobStep]bool), status: credits.JobRunning}
	m.jobs[[2]string{r.account, r.key}] = j
	return jobOutcome{entries: []credits.Entry{e}}, j
}

// captureLines captures lines of hold id on the settled account a at now,
// each applied and recorded.
func captureLines(a *mAccount, j *mJob, id int64, lines []credits.EstimateLine, failure credits.FailureKind, md map[string]string, now time.Time) []credits.Entry {
	var out []credits.Entry
	for _, l := range lines {
		h := a.holds[slices.IndexFunc(a.holds, func(h mHold) bool { return h.id == id })]
		e := credits.Entry{Kind: credits.KindCapture, Hold: id, Amount: -l.Subtotal, Held: -l.Subtotal, Spender: h.spender, Action: l.Action,
			Quantity: l.Quantity, PriceVersion: j.est.PriceVersion, Failure: failure, Metadata: md}
		if l.Subtotal < h.amount {
			a.captureSome(id, l.Subtotal)
		} else {
			a.closeHold(id, l.Subtotal)
		}
		a.addSpent(h.spender, l.Subtotal, now)
		out = append(out, a.record(e, now))
	}
	return out
}

func (a *mAccount) holdOpen(id int64) bool {
	return slices.ContainsFunc(a.holds, func(h mHold) bool { return h.id == id })
}

// completeStep is JobRun.Complete(r.step) at now.
func (m *model) completeStep(j *mJob, r request, now time.Time) jobOutcome {
	if j.finished() {
		return jobOutcome{err: credits.ErrJobFinished}
	}
	if !j.hasStep(r.step) {
		return jobOutcome{err: credits.ErrInvalidInput}
	}
	lines := j.paid(r.step)
	if len(lines) == 0 {
		j.done[r.step] = true
		if j.pending(j.localDone) == 0 {
			j.status = credits.JobCompleted
		}
		return jobOutcome{}
	}
	stored := m.account(j.account)
	key := j.key + "/" + r.step.String()
	var out jobOutcome
	if k, ok := stored.keys[key]; ok {
		out = jobOutcome{entries: slices.Clone(stored.entries[k.entry-1 : k.entry-1+int64(len(lines))]), replay: true}
	} else {
		a := stored.clone()
		a.settle(now)
		hold := j.holds[len(j.holds)-1]
		if !a.holdOpen(hold) {
			j.status = credits.JobLapsed
			return jobOutcome{err: credits.ErrHoldClosed}
		}
		out.entries = captureLines(a, j, hold, lines, 0, nil, now)
		out.entries[0].Key = key
		a.entries[out.entries[0].ID-1].Key = key
		a.keys[key] = mKey{r, out.entries[0].ID}
		*stored = *a
	}
	j.done[r.step] = true
	j.captures[r.step] = nil
	for _, e := range out.entries {
		j.captures[r.step] = append(j.captures[r.step], e.ID)
	}
	if j.pending(j.localDone) == 0 {
		j.status = credits.JobCompleted
	}
	return out
}

// failJob is JobRun.Fail at now.
func (m *model) failJob(j *mJob, r request, now time.Time) jobOutcome {
	if r.step != 0 && !j.hasStep(r.step) {
		return jobOutcome{err: credits.ErrInvalidInput}
	}
	if j.failed {
		return jobOutcome{err: credits.ErrJobFinished}
	}
	stored := m.account(j.account)
	a := stored.clone()
	a.settle(now)
	md := r.metadata()
	var out []credits.Entry
	if r.failure == credits.FailureProvider && j.done[r.step] {
		for _, id := range j.captures[r.step] {
			c := stored.entries[id-1]
			left := -c.Amount - a.refunded[id]
			if left <= 0 {
				continue
			}
			e := credits.Entry{Kind: credits.KindRefund, Reverses: id, Amount: left, Spender: c.Spender, Failure: r.failure, Metadata: md}
			a.refunded[id] += left
			e.Lot = a.creditsIn(mLot{id: a.nextID(), source: credits.SourceRefund, remaining: left}, now)
			out = append(out, a.record(e, now))
			j.refunded[r.step] = true
		}
	}
	hold := j.holds[len(j.holds)-1]
	if a.holdOpen(hold) {
		if r.failure == credits.FailureUserCancel && r.step != 0 && !j.done[r.step] {
			if lines := j.paid(r.step); len(lines) > 0 {
				caps := captureLines(a, j, hold, lines, r.failure, md, now)
				out = append(out, caps...)
				j.done[r.step] = true
				for _, e := range caps {
					j.captures[r.step] = append(j.captures[r.step], e.ID)
				}
			}
		}
		if i := slices.IndexFunc(a.holds, func(h mHold) bool { return h.id == hold }); i >= 0 {
			h := a.holds[i]
			e := credits.Entry{Kind: credits.KindRelease, Hold: hold, Held: -h.amount, Spender: h.spender, Failure: r.failure, Metadata: md}
			a.closeHold(hold, 0)
			out = append(out, a.record(e, now))
		}
	}
	j.failed, j.failure, j.status = true, r.failure, credits.JobFailed
	if len(out) == 0 {
		return jobOutcome{}
	}
	key := j.key + "/fail"
	out[0].Key = key
	a.entries[out[0].ID-1].Key = key
	a.keys[key] = mKey{r, out[0].ID}
	*stored = *a
	j.recorded = true
	return jobOutcome{entries: out}
}

// retryStep is JobRun.Retry(r.step) at now.
func (m *model) retryStep(j *mJob, r request, now time.Time) jobOutcome {
	if j.finished() {
		return jobOutcome{err: credits.ErrJobFinished}
	}
	if !j.hasStep(r.step) || j.done[r.step] {
		return jobOutcome{err: credits.ErrInvalidInput}
	}
	stored := m.account(j.account)
	key := j.key + "/hold/" + strconv.Itoa(len(j.holds)+1)
	if k, ok := stored.keys[key]; ok {
		j.holds = append(j.holds, k.entry)
		j.status = credits.JobRunning
		return jobOutcome{entries: []credits.Entry{stored.entries[k.entry-1]}, replay: true}
	}
	a := stored.clone()
	a.settle(now)
	if a.holdOpen(j.holds[len(j.holds)-1]) {
		j.status = credits.JobRunning
		return jobOutcome{}
	}
	amount := j.pending(j.localDone)
	if sf := m.shortfall(a, amount, now); sf > 0 {
		return jobOutcome{err: credits.ErrInsufficientCredits, shortfall: sf}
	}
	if over := a.overBudget(j.spender, amount, now); over != nil {
		return jobOutcome{err: credits.ErrBudgetExceeded, over: over}
	}
	deadline := now.Add(j.ttl)
	e := credits.Entry{Kind: credits.KindHold, Held: amount, ExpiresAt: deadline, Spender: j.spender, MultiCapture: true, PriceVersion: j.est.PriceVersion, Key: key}
	a.holds = append(a.holds, mHold{id: a.nextID(), amount: amount, deadline: deadline, draws: a.reserve(amount, now), spender: j.spender, multi: true})
	e = a.record(e, now)
	a.keys[key] = mKey{r, e.ID}
	*stored = *a
	j.holds = append(j.holds, e.ID)
	j.status = credits.JobRunning
	return jobOutcome{entries: []credits.Entry{e}}
}

// The machine's actions.

// machineJob is a run the machine started, and the JobRun it drives.
type machineJob struct {
	account, key string
	run          *credits.JobRun
	start        request // the request that started it
}

var runCmp = []cmp.Option{cmpopts.IgnoreUnexported(credits.JobRun{}), cmpopts.EquateEmpty()}

func (m *machine) startJob(t *rapid.T) {
	var r request
	if len(m.jobs) > 0 && rapid.IntRange(0, 5).Draw(t, "start again") == 0 {
		r = rapid.SampledFrom(m.jobs).Draw(t, "job").start
	} else {
		m.keys++
		r = request{op: opStartJob, account: m.account(t), key: fmt.Sprintf("job-%d", m.keys), spender: m.spender(t), note: note(t),
			estimate: rapid.SampledFrom([]int{0, 1, 2, 2}).Draw(t, "estimate")}
		if rapid.Bool().Draw(t, "deadline given") {
			r.expiresAt = m.later(t, "deadline in")
		}
		if rapid.IntRange(0, 3).Draw(t, "top up first") != 0 {
			// Jobs cost more than most grants give: buy some credits for it.
			m.step(t, request{op: opGrant, account: r.account, key: m.key(t), amount: 50 * credits.Credit, source: credits.SourceTopUp})
		}
	}
	now := m.ledger.Now()
	want, j := m.model.startJob(r, now)
	run, err := m.ledger.StartJob(m.ctx, r.account, credits.JobRequest{Key: r.key, Estimate: jobEstimates()[r.estimate], Spender: r.spender,
		Deadline: r.expiresAt, Metadata: r.metadata()})
	m.failed = want.err != nil
	if want.err != nil || err != nil {
		m.jobOutcome(t, r, want, err, nil)
		return
	}
	if want.replay {
		// A start again returns the run as the ledger has it.
		m.model.resumed(j, now)
		if diff := cmp.Diff(m.model.run(j, false, now), run, runCmp...); diff != "" {
			broke(t, ruleJobResume, "%s started again at %s: the run differs from the ledger's (-want +got):\n%s", r, now, diff)
		}
		for _, mj := range m.jobs {
			if mj.account == r.account && mj.key == r.key {
				mj.run = run
			}
		}
		return
	}
	hold, err := m.ledger.Entry(m.ctx, r.account, run.Holds[0])
	if err != nil {
		broke(t, ruleOutcome, "%s: Entry(%d): %v", r, run.Holds[0], err)
	}
	m.jobOutcome(t, r, want, nil, []credits.Entry{hold})
	m.jobs = append(m.jobs, &machineJob{account: r.account, key: r.key, run: run, start: r})
	m.checkRun(t, r, j, run)
}

func (m *machine) pickJob(t *rapid.T) (*machineJob, *mJob) {
	if len(m.jobs) == 0 {
		t.Skip("no job run")
	}
	mj := rapid.SampledFrom(m.jobs).Draw(t, "job")
	return mj, m.model.jobOf(mj.account, mj.key)
}

// drawStep draws one of the run's steps, or now and then one it has not.
func drawStep(t *rapid.T, j *mJob) credits.JobStep {
	if rapid.IntRange(0, 9).Draw(t, "odd step") == 0 {
		return rapid.SampledFrom([]credits.JobStep{credits.StepUploads, credits.StepAICreation, credits.StepRender}).Draw(t, "any step")
	}
	return rapid.SampledFrom(j.steps()).Draw(t, "step")
}

func (m *machine) completeStep(t *rapid.T) {
	mj, j := m.pickJob(t)
	r := request{op: opCompleteStep, account: mj.account, key: mj.key, step: drawStep(t, j)}
	now := m.ledger.Now()
	want := m.model.completeStep(j, r, now)
	got, err := mj.run.Complete(m.ctx, r.step)
	m.failed = want.err != nil
	m.jobOutcome(t, r, want, err, got)
	m.checkRun(t, r, j, mj.run)
}

func (m *machine) failJob(t *rapid.T) {
	mj, j := m.pickJob(t)
	r := request{op: opFailJob, account: mj.account, key: mj.key, note: note(t),
		failure: rapid.SampledFrom([]credits.FailureKind{credits.FailureProvider, credits.FailureUserCancel}).Draw(t, "failure")}
	if r.failure == credits.FailureProvider || rapid.Bool().Draw(t, "running step") {
		r.step = drawStep(t, j)
	}
	now := m.ledger.Now()
	want := m.model.failJob(j, r, now)
	got, err := mj.run.Fail(m.ctx, credits.JobFailure{Kind: r.failure, Step: r.step, Metadata: r.metadata()})
	m.failed = want.err != nil || len(want.entries) == 0
	m.jobOutcome(t, r, want, err, got)
	m.checkRun(t, r, j, mj.run)
}

func (m *machine) retryStep(t *rapid.T) {
	mj, j := m.pickJob(t)
	r := request{op: opRetryStep, account: mj.account, key: mj.key, step: drawStep(t, j)}
	now := m.ledger.Now()
	want := m.model.retryStep(j, r, now)
	e, err := mj.run.Retry(m.ctx, r.step)
	var got []credits.Entry
	if e.ID != 0 {
		got = []credits.Entry{e}
	}
	m.failed = want.err != nil || len(want.entries) == 0
	m.jobOutcome(t, r, want, err, got)
	m.checkRun(t, r, j, mj.run)
}

// resumeJob rebuilds a run from the ledger, as a service does after a
// crash, and drives it on from there.
func (m *machine) resumeJob(t *rapid.T) {
	mj, j := m.pickJob(t)
	now := m.ledger.Now()
	run, err := m.ledger.Job(m.ctx, mj.account, mj.key)
	if err != nil {
		broke(t, ruleJobResume, "Job(%q, %q): %v", mj.account, mj.key, err)
	}
	if diff := cmp.Diff(m.model.run(j, true, now), run, runCmp...); diff != "" {
		broke(t, ruleJobResume, "Job(%q, %q) at %s (-want +got):\n%s\n%s", mj.account, mj.key, now, diff, m.historyOf(mj.account))
	}
	m.model.resumed(j, now)
	mj.run = run
	if _, err := m.ledger.Job(m.ctx, mj.account, "no such job"); !errors.Is(err, credits.ErrJobNotFound) {
		broke(t, ruleOutcome, "Job(%q) of a key with no run: %v, want ErrJobNotFound", mj.account, err)
	}
}

// jobOutcome checks what a write of a run returned (got, or err) against
// the model's want, and remembers the entries. It reports whether the
// write failed as it should.
func (m *machine) jobOutcome(t *rapid.T, r request, want jobOutcome, err error, got []credits.Entry) bool {
	t.Helper()
	now := m.ledger.Now()
	if want.err != nil {
		rule := ruleJobSteps
		if want.err == credits.ErrBudgetExceeded {
			rule = ruleBudgetCap
		}
		if !errors.Is(err, want.err) {
			broke(t, rule, "%s at %s: got %v, want an error matching %q\n%s", r, now, err, want.err, m.historyOf(r.account))
		}
		var ie *credits.InsufficientCreditsError
		if want.err == credits.ErrInsufficientCredits && (!errors.As(err, &ie) || ie.Shortfall != want.shortfall) {
			broke(t, rule, "%s: got %v, want a *credits.InsufficientCreditsError with shortfall %s", r, err, want.shortfall)
		}
		if want.over != nil {
			checkOver(t, r, err, want.over)
		}
		return true
	}
	if err != nil {
		rule := ruleJobSteps
		if errors.Is(err, credits.ErrBudgetExceeded) {
			rule = ruleBudgetCap
		}
		broke(t, rule, "%s at %s: %v\n%s", r, now, err, m.historyOf(r.account))
	}
	rule := ruleJobSteps
	if want.replay {
		rule = ruleReplay
	}
	if diff := cmp.Diff(want.entries, got, entryCmpNoRH...); diff != "" {
		broke(t, rule, "%s at %s: the entries differ from the model's (-want +got):\n%s\n%s", r, now, diff, m.historyOf(r.account))
	}
	for _, e := range got {
		m.remember(e)
	}
	return false
}

// checkRun compares the machine's JobRun with the model's.
func (m *machine) checkRun(t *rapid.T, r request, j *mJob, run *credits.JobRun) {
	t.Helper()
	if j == nil || run == nil {
		return
	}
	if diff := cmp.Diff(m.model.run(j, false, m.ledger.Now()), run, runCmp...); diff != "" {
		broke(t, ruleJobSteps, "%s: the run differs from the model's (-want +got):\n%s", r, diff)
	}
}
