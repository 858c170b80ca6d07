package credits

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/avstudio/credits/internal/fnv"
)

// Job runs: the types and operations. How a run pays, and its refund
// policy, are in the package doc, "Job runs".

// JobStep is a step of a public-API job: the actions of an estimate's
// lines fall into three, in the order a job runs them.
type JobStep uint8

// The steps of a job run.
const (
	StepUploads    JobStep = iota + 1 // uploads: the uploads and imports of every asset type, and screen-recording analysis
	StepAICreation                    // public_api_ai_creation: the creator loop (prompt_to_mp4 only)
	StepRender                        // render: the export of the video

	numJobSteps = iota + 1
)

var jobStepNames = [numJobSteps]string{StepUploads: "uploads", StepAICreation: "public_api_ai_creation", StepRender: "render"}

// Valid reports whether st is one of the defined steps.
func (st JobStep) Valid() bool { return st > 0 && st < numJobSteps }

var jobStepEnum = newEnum[JobStep]("JobStep", "step", "job step", jobStepNames[:], true, false)

// String returns "uploads", "public_api_ai_creation" or "render"; "" for
// the zero value.
func (st JobStep) String() string { return jobStepEnum.string(st) }

// ParseJobStep returns the step named s, exactly as [JobStep.String]
// prints it. An unknown name ("" included) is an [*InputError].
func ParseJobStep(s string) (JobStep, error) { return jobStepEnum.parse(s) }

// MarshalText implements encoding.TextMarshaler: "" for the zero value,
// an [*InputError] for an undefined one.
func (st JobStep) MarshalText() ([]byte, error) { return jobStepEnum.marshalText(st) }

// UnmarshalText implements encoding.TextUnmarshaler with [ParseJobStep].
// On error st is left unchanged.
func (st *JobStep) UnmarshalText(b []byte) error { return jobStepEnum.unmarshalText(st, b) }

// StepOf returns the step whose lines include action a: the upload
// actions and screen_recording_analysis are the uploads step; zero for an
// action that is no job's.
func StepOf(a Action) JobStep {
	switch a {
	case PublicAPIAICreation:
		return StepAICreation
	case Render:
		return StepRender
	case UploadVideo, UploadImage, UploadAudio, ScreenRecordingUpload, ScreenRecordingAnalysis:
		return StepUploads
	}
	return 0
}

// FailureKind is why a job run failed; it decides what is refunded (see
// the refund policy in the package doc, "Job runs"). The zero value is not
// a kind.
type FailureKind uint8

// The kinds of job failure.
const (
	FailureProvider   FailureKind = iota + 1 // provider_failure: our side or a provider failed: the failing step is not paid
	FailureUserCancel                        // user_cancel: the user stopped the job: what ran is paid

	numFailureKinds = iota + 1
)

var failureKindNames = [numFailureKinds]string{FailureProvider: "provider_failure", FailureUserCancel: "user_cancel"}

// Valid reports whether k is one of the defined kinds.
func (k FailureKind) Valid() bool { return k > 0 && k < numFailureKinds }

var failureKindEnum = newEnum[FailureKind]("FailureKind", "failure", "failure kind", failureKindNames[:], true, false)

// String returns "provider_failure" or "user_cancel"; "" for the zero
// value.
func (k FailureKind) String() string { return failureKindEnum.string(k) }

// ParseFailureKind returns the kind named s, exactly as
// [FailureKind.String] prints it. An unknown name ("" included) is an
// [*InputError].
func ParseFailureKind(s string) (FailureKind, error) { return failureKindEnum.parse(s) }

// MarshalText implements encoding.TextMarshaler: "" for the zero value,
// an [*InputError] for an undefined one.
func (k FailureKind) MarshalText() ([]byte, error) { return failureKindEnum.marshalText(k) }

// UnmarshalText implements encoding.TextUnmarshaler with
// [ParseFailureKind]. On error k is left unchanged.
func (k *FailureKind) UnmarshalText(b []byte) error { return failureKindEnum.unmarshalText(k, b) }

// JobRequest starts a job run.
type JobRequest struct {
	// Key is the job's idempotency key, from which the keys of all its
	// writes derive (see the package doc, "Job runs"): required, at most
	// 232 bytes (255 less the longest suffix, "/public_api_ai_creation").
	Key string
	// Estimate is the job's estimate, as [PriceTable.EstimateJob] made
	// it: its price version must be in the ledger's price book, and its
	// lines priced by that table. Its total, more than zero, is held.
	Estimate Estimate
	Spender  string    // who runs the job, as [HoldRequest.Spender]: the hold counts against its budgets
	Deadline time.Time // when the hold lapses if the run is not done (zero = now + Options.HoldTTL); a retry's hold lives as long
	Metadata map[string]string
}

// JobFailure says why a job run failed (see [JobRun.Fail]).
type JobFailure struct {
	Kind FailureKind
	// Step is, for FailureProvider, the step that failed (required): it
	// is not paid. For FailureUserCancel, the step that was running when
	// the user cancelled, if any: it is paid.
	Step     JobStep
	Metadata map[string]string // the caller's notes, on every entry the failure makes
}

// JobStatus is where a job run is.
type JobStatus uint8

// The statuses of a job run.
const (
	JobRunning   JobStatus = iota + 1 // running: its hold is open
	JobLapsed                         // lapsed: its hold lapsed with steps left to run; Retry holds again
	JobCompleted                      // completed: every step that costs anything was captured
	JobFailed                         // failed: Fail ended it

	numJobStatuses = iota + 1
)

var jobStatusNames = [numJobStatuses]string{JobRunning: "running", JobLapsed: "lapsed", JobCompleted: "completed", JobFailed: "failed"}

var jobStatusEnum = newEnum[JobStatus]("JobStatus", "status", "job status", jobStatusNames[:], true, false)

// Valid reports whether s is one of the defined statuses.
func (s JobStatus) Valid() bool { return s > 0 && s < numJobStatuses }

// String returns "running", "lapsed", "completed" or "failed"; "" for
// the zero value.
func (s JobStatus) String() string { return jobStatusEnum.string(s) }

// ParseJobStatus returns the status named s, exactly as
// [JobStatus.String] prints it. An unknown name ("" included) is an
// [*InputError].
func ParseJobStatus(s string) (JobStatus, error) { return jobStatusEnum.parse(s) }

// MarshalText implements encoding.TextMarshaler: "" for the zero value,
// an [*InputError] for an undefined one.
func (s JobStatus) MarshalText() ([]byte, error) { return jobStatusEnum.marshalText(s) }

// UnmarshalText implements encoding.TextUnmarshaler with
// [ParseJobStatus]. On error s is left unchanged.
func (s *JobStatus) UnmarshalText(b []byte) error { return jobStatusEnum.unmarshalText(s, b) }

// JobStepState is one step of a run.
type JobStepState struct {
	Step     JobStep `json:"step"`
	Amount   Credits `json:"amount"`             // its share of the estimate: the sum of its lines
	Done     bool    `json:"done"`               // its lines were captured (a step that costs nothing: Complete was called)
	Captures []int64 `json:"captures,omitempty"` // its capture entries
	Refunded bool    `json:"refunded,omitempty"` // its captures were refunded (a provider failure)
}

// JobRun is a public-API job being paid step by step: what the ledger
// knows of it. Its methods write to the ledger and update it. A JobRun is
// not safe for concurrent use; its writes are idempotent, so the same run
// driven again after a crash (see [Ledger.Job]) never pays twice.
type JobRun struct {
	Account  string         `json:"account"`
	Key      string         `json:"key"`
	Spender  string         `json:"spender,omitempty"`
	Estimate Estimate       `json:"estimate"`
	Holds    []int64        `json:"holds"` // its holds: StartJob's, then those of retries after a lapse
	Steps    []JobStepState `json:"steps"` // the estimate's steps, in the order a job runs them
	Status   JobStatus      `json:"status"`
	Failure  FailureKind    `json:"failure,omitzero"` // why it failed

	l   *Ledger
	ttl time.Duration // how long its holds live
}

const (
	maxJobKeyLen = maxKeyLen - len("/public_api_ai_creation")
	maxJobHolds  = 1000
)

func stepKey(key string, st JobStep) string { return key + "/" + st.String() }
func failKey(key string) string             { return key + "/fail" }
func holdKey(key string, n int) string      { return key + "/hold/" + strconv.Itoa(n) }

func checkJobKey(key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if len(key) > maxJobKeyLen {
		return inputErr("key", key, fmt.Sprintf("longer than %d bytes: a job's key leaves room for its steps' suffixes", maxJobKeyLen))
	}
	return nil
}

// checkEstimate checks that est is what the ledger's table of its price
// version makes of some job: known steps' actions, each once, priced by
// that table, adding up to the total.
func (l *Ledger) checkEstimate(est *Estimate) error {
	if !est.Pipeline.Valid() {
		return inputErr("estimate.pipeline", est.Pipeline.String(), pipelineEnum.unknown)
	}
	table, err := l.prices.Version(est.PriceVersion)
	if err != nil {
		return err
	}
	if len(est.Lines) == 0 {
		return inputErr("estimate.lines", "", "an estimate has at least its render line")
	}
	var seen [numActions]bool
	var total Credits
	for i, line := range est.Lines {
		field := "estimate.lines[" + strconv.Itoa(i) + "]"
		switch {
		case StepOf(line.Action) == 0:
			return inputErr(field+".action", line.Action.String(), "not an action of a job's steps")
		case seen[line.Action]:
			return inputErr(field+".action", line.Action.String(), "listed twice")
		case line.Quantity <= 0:
			return inputErr(field+".quantity", strconv.FormatInt(line.Quantity, 10), "must be more than zero")
		case line.UnitPrice != table.Price(line.Action):
			return inputErr(field+".unit_price", line.UnitPrice.String(), fmt.Sprintf("table %s prices %s at %s", est.PriceVersion, line.Action, table.Price(line.Action)))
		}
		seen[line.Action] = true
		sub, err := line.UnitPrice.Mul(line.Quantity)
		if err != nil || sub != line.Subtotal {
			return inputErr(field+".subtotal", line.Subtotal.String(), "is not unit_price × quantity")
		}
		if total, err = total.Add(sub); err != nil {
			return inputErr("estimate.total", "", "the lines add up to more than the most credits")
		}
	}
	if total != est.Total {
		return inputErr("estimate.total", est.Total.String(), fmt.Sprintf("the lines add up to %s", total))
	}
	if total <= 0 {
		return inputErr("estimate.total", est.Total.String(), "a job run holds more than zero credits (a free job needs no run)")
	}
	return nil
}

// StartJob starts a job run: it holds the estimate's total, as a
// multi-capture hold of r.Spender, until r.Deadline. It fails, holding
// nothing, with ErrInsufficientCredits or ErrBudgetExceeded if the account
// or the spender's budgets cannot cover the estimate. Started again with
// the same key and request, it returns the run as the ledger has it now
// (see [Ledger.Job]).
func (l *Ledger) StartJob(ctx context.Context, account string, r JobRequest) (_ *JobRun, err error) {
	ob := l.begin(ctx, OpStartJob, account, r.Key)
	var res Entry
	defer func() { ob.end(res, err) }()
	if err := checkCommon(account, r.Key, r.Metadata); err != nil {
		return nil, err
	}
	if err := checkJobKey(r.Key); err != nil {
		return nil, err
	}
	if err := checkSpender("spender", r.Spender); err != nil {
		return nil, err
	}
	if err := checkInstant("deadline", r.Deadline); err != nil {
		return nil, err
	}
	if err := l.checkEstimate(&r.Estimate); err != nil {
		return nil, err
	}
	now := l.Now()
	deadline := utcMicro(r.Deadline)
	if deadline.IsZero() {
		deadline = now.Add(l.holdTTL)
	}
	e := Entry{Kind: KindHold, Held: r.Estimate.Total, ExpiresAt: deadline, Spender: r.Spender, MultiCapture: true,
		Lines: r.Estimate.Lines, PriceVersion: r.Estimate.PriceVersion, Metadata: r.Metadata}
	h := e
	h.ExpiresAt = utcMicro(r.Deadline)
	e.RequestHash = requestHash(&h)
	res, err = l.hold(ctx, &ob, OpStartJob, account, r.Key, r.Deadline, now, e)
	if err != nil {
		return nil, err
	}
	if ob.replayed {
		return l.job(ctx, OpStartJob, account, r.Key)
	}
	return newJobRun(l, &res), nil
}

// newJobRun is the run that the job hold first made: nothing done yet.
func newJobRun(l *Ledger, first *Entry) *JobRun {
	run := &JobRun{Account: first.Account, Key: first.Key, Spender: first.Spender, Holds: []int64{first.ID}, Status: JobRunning,
		l: l, ttl: first.ExpiresAt.Sub(first.Time)}
	est := &run.Estimate
	est.PriceVersion, est.Total, est.Lines, est.Pipeline = first.PriceVersion, first.Held, first.Lines, JSONToMP4
	for st := StepUploads; st < numJobSteps; st++ {
		var amount Credits
		found := false
		for _, line := range first.Lines {
			if StepOf(line.Action) == st {
				amount += line.Subtotal
				found = true
			}
			if line.Action == PublicAPIAICreation {
				est.Pipeline = PromptToMP4
			}
		}
		if found {
			run.Steps = append(run.Steps, JobStepState{Step: st, Amount: amount})
		}
	}
	return run
}

// Job returns the job run started under key, rebuilt from the account's
// entries (a few reads by key): after a crash, a service drives the run on
// from what the ledger recorded. A key under which no run was started is
// ErrJobNotFound.
func (l *Ledger) Job(ctx context.Context, account, key string) (_ *JobRun, err error) {
	ob := l.begin(ctx, OpJob, account, key)
	defer func() { ob.end(Entry{}, err) }()
	if err := checkAccount(account); err != nil {
		return nil, err
	}
	if err := checkJobKey(key); err != nil {
		return nil, err
	}
	return l.job(ctx, OpJob, account, key)
}

func (l *Ledger) job(ctx context.Context, op Op, account, key string) (*JobRun, error) {
	first, ok, err := l.entryByKey(ctx, op, account, key)
	if err != nil {
		return nil, err
	}
	if !ok || first.Kind != KindHold || len(first.Lines) == 0 {
		return nil, fmt.Errorf("account %q has no job run under key %q: %w", account, key, ErrJobNotFound)
	}
	run := newJobRun(l, &first)
	for n := 2; n <= maxJobHolds; n++ {
		h, ok, err := l.entryByKey(ctx, op, account, holdKey(key, n))
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		run.Holds = append(run.Holds, h.ID)
	}
	for i := range run.Steps {
		st := &run.Steps[i]
		e, ok, err := l.entryByKey(ctx, op, account, stepKey(key, st.Step))
		if err != nil {
			return nil, err
		}
		if ok {
			if err := run.readCaptures(ctx, op, &e, 0); err != nil {
				return nil, err
			}
		}
	}
	fail, failed, err := l.entryByKey(ctx, op, account, failKey(key))
	if err != nil {
		return nil, err
	}
	if failed {
		run.Status, run.Failure = JobFailed, fail.Failure
		if err := run.readCaptures(ctx, op, &fail, fail.Failure); err != nil {
			return nil, err
		}
		return run, nil
	}
	s, err := l.load(ctx, op, account)
	if err != nil {
		return nil, err
	}
	settle(s, account, s.writeTime(l.Now()))
	run.settleStatus(s)
	return run, nil
}

// readCaptures reads the entries one write of the run made, from first
// (its keyed entry) on, and marks what they did to the run's steps: the
// captures of a step, the refunds of a failure. A failure's entries all
// carry its kind; a step's captures are consecutive.
func (run *JobRun) readCaptures(ctx context.Context, op Op, first *Entry, failure FailureKind) error {
	page, err := run.l.entries(ctx, op, run.Account, HistoryQuery{After: first.ID - 1, Limit: len(run.Estimate.Lines) + 2})
	if err != nil {
		return err
	}
	for i := range page {
		e := &page[i]
		if i > 0 && (e.Failure != failure || e.Key != "") {
			break
		}
		switch {
		case e.Kind == KindCapture && run.holds(e.Hold):
			if st := run.step(StepOf(e.Action)); st != nil {
				st.Done = true
				st.Captures = append(st.Captures, e.ID)
			}
		case e.Kind == KindRefund:
			for k := range run.Steps {
				if containsID(run.Steps[k].Captures, e.Reverses) {
					run.Steps[k].Refunded = true
				}
			}
		case i == 0 && e.Kind != KindRelease:
			return fmt.Errorf("credits: job %q of account %q: entry %d under its key is a %s", run.Key, run.Account, e.ID, e.Kind)
		}
	}
	return nil
}

func containsID(ids []int64, id int64) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

func (run *JobRun) holds(id int64) bool { return containsID(run.Holds, id) }

func (run *JobRun) step(st JobStep) *JobStepState {
	for i := range run.Steps {
		if run.Steps[i].Step == st {
			return &run.Steps[i]
		}
	}
	return nil
}

// pending is what the steps not done yet cost.
func (run *JobRun) pending() Credits {
	var p Credits
	for _, st := range run.Steps {
		if !st.Done {
			p += st.Amount
		}
	}
	return p
}

// settleStatus sets the status of a run that has not failed from the
// account's settled state s: completed, running (its hold open) or
// lapsed.
func (run *JobRun) settleStatus(s *AccountState) {
	switch {
	case run.pending() == 0:
		run.Status = JobCompleted
	case s.holdIndex(run.Holds[len(run.Holds)-1]) >= 0:
		run.Status = JobRunning
	default:
		run.Status = JobLapsed
	}
}

// lines returns the estimate's lines of step st that cost anything.
func (run *JobRun) lines(st JobStep) []EstimateLine {
	var out []EstimateLine
	for _, line := range run.Estimate.Lines {
		if StepOf(line.Action) == st && line.Subtotal > 0 {
			out = append(out, line)
		}
	}
	return out
}

func (run *JobRun) checkStep(st JobStep) (*JobStepState, error) {
	if run.Status == JobFailed || run.Status == JobCompleted {
		return nil, fmt.Errorf("job %q of account %q is %s: %w", run.Key, run.Account, run.Status, ErrJobFinished)
	}
	s := run.step(st)
	if s == nil {
		return nil, inputErr("step", st.String(), "the job's estimate has no such step")
	}
	return s, nil
}

// captureLines makes the captures of lines from hold i of the settled
// state s at t, each applied: one per line, at the estimate's price
// version, each taking its subtotal off the hold.
func (run *JobRun) captureLines(s *AccountState, i int, lines []EstimateLine, t time.Time, failure FailureKind, md map[string]string) ([]Entry, error) {
	h := s.holds[i]
	var out []Entry
	for _, line := range lines {
		if line.Subtotal > s.holds[i].Amount {
			return nil, fmt.Errorf("credits: job %q of account %q: its %s line takes %s, its hold %d has %s left (was it captured by hand?)",
				run.Key, run.Account, line.Action, line.Subtotal, h.ID, s.holds[i].Amount)
		}
		e := Entry{Kind: KindCapture, Hold: h.ID, Amount: -line.Subtotal, Held: -line.Subtotal, Spender: h.Spender, Action: line.Action,
			Quantity: line.Quantity, PriceVersion: run.Estimate.PriceVersion, Failure: failure, Metadata: md}
		appendEntry(s, &e, run.Account, t)
		out = append(out, e)
	}
	return out, nil
}

// Complete records that step st of the job ran: it captures the step's
// lines of the estimate (one capture entry per line that costs anything,
// each with the line's action and quantity at the estimate's price
// version) from the run's hold, which closes once every step is captured.
// It returns the captures (none for a step that costs nothing). Completing
// a step again returns its captures and changes nothing. A hold that
// lapsed is ErrHoldClosed: [JobRun.Retry] holds again. A finished run is
// ErrJobFinished; a step the estimate does not have, an [*InputError].
func (run *JobRun) Complete(ctx context.Context, st JobStep) (_ []Entry, err error) {
	l, key := run.l, stepKey(run.Key, st)
	ob := l.begin(ctx, OpCompleteStep, run.Account, key)
	var res Entry
	defer func() { ob.end(res, err) }()
	state, err := run.checkStep(st)
	if err != nil {
		return nil, err
	}
	lines := run.lines(st)
	if len(lines) == 0 {
		state.Done = true
		if run.pending() == 0 {
			run.Status = JobCompleted
		}
		return nil, nil
	}
	hold := run.Holds[len(run.Holds)-1]
	hash := fnv.New().Str("complete").Str(key).Sum64()
	made, replay, err := l.writeEntries(ctx, &ob, OpCompleteStep, run.Account, key, hash, func(s *AccountState, t time.Time) ([]Entry, error) {
		i := s.holdIndex(hold)
		if i < 0 {
			return nil, errNoOpenHold
		}
		return run.captureLines(s, i, lines, t, 0, nil)
	})
	switch {
	case err == errNoOpenHold:
		run.Status = JobLapsed
		return nil, l.missingHold(ctx, OpCompleteStep, run.Account, hold)
	case err != nil:
		return nil, err
	case replay != nil:
		if made, err = run.replayed(ctx, replay, KindCapture, len(lines)); err != nil {
			return nil, err
		}
	}
	res = made[0]
	state.Done, state.Captures = true, nil
	for _, e := range made {
		state.Captures = append(state.Captures, e.ID)
	}
	if run.pending() == 0 {
		run.Status = JobCompleted
	}
	return made, nil
}

// replayed reads the n entries a write of the run made, from its keyed
// entry first on.
func (run *JobRun) replayed(ctx context.Context, first *Entry, kind Kind, n int) ([]Entry, error) {
	page, err := run.l.entries(ctx, OpCompleteStep, run.Account, HistoryQuery{After: first.ID - 1, Limit: n})
	if err != nil {
		return nil, err
	}
	if len(page) != n {
		return nil, fmt.Errorf("credits: job %q of account %q: entry %d has %d entries after it, not the %d its step made", run.Key, run.Account, first.ID, len(page), n)
	}
	for i := range page {
		if page[i].Kind != kind {
			return nil, fmt.Errorf("credits: job %q of account %q: entry %d is a %s, not a %s of its step", run.Key, run.Account, page[i].ID, page[i].Kind, kind)
		}
	}
	return page, nil
}

// Fail ends the run, by the refund policy of f.Kind (see the package doc,
// "Job runs"): it releases what is left of the run's hold, and, for a
// provider failure of a step that was completed, refunds the step's
// captures; for a user cancel during a step, captures that step first.
// Every entry it makes carries f.Kind and f.Metadata. It returns them
// (none if the hold had lapsed and nothing was refunded: then nothing is
// recorded). Failing again returns the first failure's keyed entry only.
func (run *JobRun) Fail(ctx context.Context, f JobFailure) (_ []Entry, err error) {
	l, key := run.l, failKey(run.Key)
	ob := l.begin(ctx, OpFailJob, run.Account, key)
	var res Entry
	defer func() { ob.end(res, err) }()
	if err := checkCommon(run.Account, key, f.Metadata); err != nil {
		return nil, err
	}
	if !f.Kind.Valid() {
		return nil, inputErr("failure.kind", f.Kind.String(), failureKindEnum.unknown)
	}
	if f.Kind == FailureProvider && f.Step == 0 {
		return nil, inputErr("failure.step", "", "a provider failure names the step that failed")
	}
	var state *JobStepState
	if f.Step != 0 {
		if state = run.step(f.Step); state == nil {
			return nil, inputErr("failure.step", f.Step.String(), "the job's estimate has no such step")
		}
	}
	if run.Status == JobFailed {
		return nil, fmt.Errorf("job %q of account %q has failed already: %w", run.Key, run.Account, ErrJobFinished)
	}
	// The captures a provider failure refunds, read before the write:
	// entries never change.
	var refund []Entry
	if f.Kind == FailureProvider && state.Done {
		for _, id := range state.Captures {
			e, err := l.entry(ctx, OpFailJob, run.Account, id)
			if err != nil {
				return nil, err
			}
			refund = append(refund, e)
		}
	}
	var running []EstimateLine
	if f.Kind == FailureUserCancel && state != nil && !state.Done {
		running = run.lines(f.Step)
	}
	hold := run.Holds[len(run.Holds)-1]
	hash := fnv.New().U64(requestHash(&Entry{Kind: KindRelease, Failure: f.Kind, Metadata: f.Metadata})).U64(uint64(f.Step)).Sum64()
	made, replay, err := l.writeEntries(ctx, &ob, OpFailJob, run.Account, key, hash, func(s *AccountState, t time.Time) ([]Entry, error) {
		var out []Entry
		for _, c := range refund {
			left := -c.Amount - s.refunded[c.ID]
			if left <= 0 {
				continue
			}
			e := Entry{Kind: KindRefund, Reverses: c.ID, Amount: left, Spender: c.Spender, Failure: f.Kind, Metadata: f.Metadata}
			appendEntry(s, &e, run.Account, t)
			out = append(out, e)
		}
		i := s.holdIndex(hold)
		if i < 0 {
			return out, nil
		}
		if len(running) > 0 {
			caps, err := run.captureLines(s, i, running, t, f.Kind, f.Metadata)
			if err != nil {
				return nil, err
			}
			out = append(out, caps...)
			if i = s.holdIndex(hold); i < 0 {
				return out, nil // the running step was all that was left
			}
		}
		h := &s.holds[i]
		e := Entry{Kind: KindRelease, Hold: hold, Held: -h.Amount, Spender: h.Spender, Failure: f.Kind, Metadata: f.Metadata}
		appendEntry(s, &e, run.Account, t)
		return append(out, e), nil
	})
	if err != nil {
		return nil, err
	}
	if replay != nil {
		made = []Entry{*replay}
		if err := run.readCaptures(ctx, OpFailJob, replay, replay.Failure); err != nil {
			return nil, err
		}
		run.Status, run.Failure = JobFailed, replay.Failure
		res = *replay
		return made, nil
	}
	if len(made) > 0 {
		res = made[0]
		run.Status, run.Failure = JobFailed, f.Kind
		for _, e := range made {
			switch e.Kind {
			case KindRefund:
				state.Refunded = true
			case KindCapture:
				state.Done = true
				state.Captures = append(state.Captures, e.ID)
			}
		}
		return made, nil
	}
	// Nothing to record: the hold lapsed and nothing was refunded.
	run.Status, run.Failure = JobFailed, f.Kind
	return nil, nil
}

// Retry runs step st again after it failed, inside the run's hold: while
// the hold is open it writes nothing (the step was never captured, so
// nothing is paid twice); if the hold lapsed, it holds again what the steps
// not done yet cost, for as long as the first hold lived, and returns that
// hold. The new hold may fail with ErrInsufficientCredits or
// ErrBudgetExceeded. A step that was completed is an [*InputError] (fail
// the run to refund it); a finished run is ErrJobFinished.
func (run *JobRun) Retry(ctx context.Context, st JobStep) (_ Entry, err error) {
	l := run.l
	n := len(run.Holds) + 1
	key := holdKey(run.Key, n)
	ob := l.begin(ctx, OpRetryStep, run.Account, key)
	var res Entry
	defer func() { ob.end(res, err) }()
	state, err := run.checkStep(st)
	if err != nil {
		return Entry{}, err
	}
	if state.Done {
		return Entry{}, inputErr("step", st.String(), "was completed: a retry runs a step that failed (fail the run to refund it)")
	}
	amount := run.pending()
	last := run.Holds[len(run.Holds)-1]
	e := Entry{Kind: KindHold, Held: amount, Spender: run.Spender, MultiCapture: true, PriceVersion: run.Estimate.PriceVersion}
	hash := requestHash(&e)
	made, replay, err := l.writeEntries(ctx, &ob, OpRetryStep, run.Account, key, hash, func(s *AccountState, t time.Time) ([]Entry, error) {
		if s.holdIndex(last) >= 0 {
			return nil, nil // the hold is open: the step reruns inside it
		}
		h := e
		stamp(s, &h, run.Account, t)
		h.ExpiresAt = t.Add(run.ttl)
		if err := l.checkFunds(s, run.Account, &h); err != nil {
			return nil, err
		}
		if h.Spender != "" {
			if err := s.checkBudgets(run.Account, h.Spender, h.Held, t); err != nil {
				return nil, err
			}
		}
		appendEntry(s, &h, run.Account, t)
		return []Entry{h}, nil
	})
	switch {
	case err != nil:
		return Entry{}, err
	case replay != nil:
		res = *replay
	case len(made) == 1:
		res = made[0]
	default:
		run.Status = JobRunning
		return Entry{}, nil
	}
	run.Holds = append(run.Holds, res.ID)
	run.Status = JobRunning
	return res, nil
}

// appendEntry stamps e as s's next entry at t, applies it and records the
// balance it leaves.
func appendEntry(s *AccountState, e *Entry, account string, t time.Time) {
	stamp(s, e, account, t)
	s.apply(e)
	e.BalanceAfter = s.balance()
}

// writeEntries is one atomic write of several entries under one idempotency key
// (the first entry carries it, with hash): it replays a retried request
// (replay is then the entry stored under the key), or settles what is due
// and lets build make the entries on the settled state at the write's
// time, each applied with appendEntry. A build that makes no entries
// writes nothing, not even what is due; one that fails changes nothing.
// The notices the entries cause are written with them (see Ledger.write).
func (l *Ledger) writeEntries(ctx context.Context, ob *observation, op Op, account, key string, hash uint64,
	build func(s *AccountState, t time.Time) ([]Entry, error)) (made []Entry, replay *Entry, err error) {
	now := l.Now()
	var settled, n int // of the entries written, how many settle what was due, and how many build made
	written, err := l.write(ctx, op, account, key, now, false, func(s *AccountState, existing *Entry) ([]Entry, error) {
		replay, settled, n = nil, 0, 0
		if existing != nil {
			if existing.RequestHash != hash {
				return nil, &IdempotencyConflictError{Account: account, Key: key, EntryID: existing.ID}
			}
			e := *existing
			replay = &e
			return nil, nil
		}
		t := s.writeTime(now)
		work := s
		if s.hasDue(t) {
			work = s.Clone() // a refused or empty write changes nothing
		}
		due := settle(work, account, t)
		es, err := build(work, t)
		if err != nil || len(es) == 0 {
			return nil, err
		}
		es[0].Key, es[0].RequestHash = key, hash
		if work != s {
			*s = *work
		}
		settled, n = len(due), len(es)
		return append(due, es...), nil
	})
	if err != nil {
		return nil, nil, err
	}
	made = written[settled : settled+n] // as stored, chain hashes set
	if replay != nil && ob != nil {
		ob.replayed = true
	}
	return made, replay, nil
}
