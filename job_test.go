package credits_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/avstudio/credits"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// testJob is a prompt_to_mp4 job of two video uploads, an audio import and
// a free image: uploads 13 (10 + 3 + 0), AI creation 3, render 5.
var testJob = credits.Job{
	Pipeline: credits.PromptToMP4, Prompt: "a product tour",
	Uploads:      []credits.Upload{{Name: "a.mp4"}, {Name: "b.mp4"}},
	RemoteAssets: []credits.RemoteAsset{{URL: "https://cdn.example.com/theme.mp3"}, {URL: "https://cdn.example.com/logo.png"}},
}

func (f *budgetFixture) estimate(job credits.Job) credits.Estimate {
	f.t.Helper()
	table, err := f.l.Prices().At(f.l.Now())
	if err != nil {
		f.t.Fatal(err)
	}
	est, err := table.EstimateJob(job)
	if err != nil {
		f.t.Fatal(err)
	}
	return est
}

func (f *budgetFixture) start(account, key string, est credits.Estimate) *credits.JobRun {
	f.t.Helper()
	run, err := f.l.StartJob(f.ctx, account, credits.JobRequest{Key: key, Estimate: est, Spender: "key_api", Deadline: f.clock.Now().Add(30 * time.Minute)})
	if err != nil {
		f.t.Fatalf("StartJob: %v", err)
	}
	return run
}

func (f *budgetFixture) complete(run *credits.JobRun, st credits.JobStep) []credits.Entry {
	f.t.Helper()
	es, err := run.Complete(f.ctx, st)
	if err != nil {
		f.t.Fatalf("Complete(%s): %v", st, err)
	}
	return es
}

// resumes checks that Ledger.Job rebuilds run from the ledger alone.
func (f *budgetFixture) resumes(run *credits.JobRun) {
	f.t.Helper()
	got, err := f.l.Job(f.ctx, run.Account, run.Key)
	if err != nil {
		f.t.Fatalf("Job(%q): %v", run.Key, err)
	}
	if diff := cmp.Diff(run, got, cmpopts.IgnoreUnexported(credits.JobRun{}), cmpopts.EquateEmpty()); diff != "" {
		f.t.Fatalf("Job(%q) rebuilt from the ledger differs from the run (-run +rebuilt):\n%s", run.Key, diff)
	}
}

func stepAmount(run *credits.JobRun, st credits.JobStep) credits.Credits {
	for _, s := range run.Steps {
		if s.Step == st {
			return s.Amount
		}
	}
	return 0
}

// TestJobRenderFailsAndIsRetried: the render fails, is retried inside
// the same hold (nothing held or charged twice), and succeeds: the user
// pays the estimate, once.
func TestJobRenderFailsAndIsRetried(t *testing.T) {
	f := newBudgetFixture(t)
	f.grant("studio", "seed", 100*credits.Credit)
	est := f.estimate(testJob)
	if est.Total != 21*credits.Credit {
		t.Fatalf("the test job is estimated at %s", est.Total)
	}
	run := f.start("studio", "job-1", est)
	if run.Status != credits.JobRunning || len(run.Steps) != 3 || stepAmount(run, credits.StepUploads) != 13*credits.Credit {
		t.Fatalf("a new run: %+v", run)
	}
	f.balance("studio", 100*credits.Credit, 21*credits.Credit)
	f.resumes(run)

	ups := f.complete(run, credits.StepUploads)
	// One capture per line that costs anything (the free image has none),
	// at the estimate's price version.
	if len(ups) != 2 || ups[0].Action != credits.UploadVideo || ups[0].Quantity != 2 || ups[0].Amount != -10*credits.Credit ||
		ups[1].Action != credits.UploadAudio || ups[1].Amount != -3*credits.Credit || ups[0].PriceVersion != est.PriceVersion ||
		ups[0].Key != "job-1/uploads" || ups[1].Key != "" || ups[0].Spender != "key_api" {
		t.Fatalf("the uploads' captures: %+v", ups)
	}
	f.resumes(run)
	// Completing a step again returns its captures and changes nothing.
	if again := f.complete(run, credits.StepUploads); !cmp.Equal(again, ups, cmpopts.EquateEmpty()) {
		t.Fatalf("uploads completed again: %+v", again)
	}
	f.complete(run, credits.StepAICreation)
	f.balance("studio", 84*credits.Credit, 5*credits.Credit)

	// The render fails; the retry runs inside the same hold.
	hold, err := run.Retry(f.ctx, credits.StepRender)
	if err != nil || hold.ID != 0 || len(run.Holds) != 1 {
		t.Fatalf("Retry with the hold open: %+v, %v; want nothing written", hold, err)
	}
	if _, err := run.Retry(f.ctx, credits.StepUploads); !errors.Is(err, credits.ErrInvalidInput) {
		t.Fatalf("Retry of a completed step: %v", err)
	}
	f.balance("studio", 84*credits.Credit, 5*credits.Credit)
	f.complete(run, credits.StepRender)
	if run.Status != credits.JobCompleted {
		t.Fatalf("status %s after every step", run.Status)
	}
	f.balance("studio", 79*credits.Credit, 0)
	f.resumes(run)
	if _, err := run.Complete(f.ctx, credits.StepRender); !errors.Is(err, credits.ErrJobFinished) {
		t.Fatalf("Complete of a completed run: %v", err)
	}

	// The statement shows the job's spending by action.
	st, err := f.l.Statement(f.ctx, "studio", credits.Period{Start: t0, End: t0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	want := []credits.SpendLine{
		{Kind: credits.KindCapture, Action: credits.PublicAPIAICreation, Entries: 1, Quantity: 1, Amount: 3 * credits.Credit},
		{Kind: credits.KindCapture, Action: credits.Render, Entries: 1, Quantity: 1, Amount: 5 * credits.Credit},
		{Kind: credits.KindCapture, Action: credits.UploadVideo, Entries: 1, Quantity: 2, Amount: 10 * credits.Credit},
		{Kind: credits.KindCapture, Action: credits.UploadAudio, Entries: 1, Quantity: 1, Amount: 3 * credits.Credit},
	}
	if diff := cmp.Diff(want, st.Spent); diff != "" {
		t.Fatalf("the statement's spending (-want +got):\n%s", diff)
	}
	if len(st.Spenders) != 1 || st.Spenders[0] != (credits.SpenderLine{Spender: "key_api", Entries: 4, Spent: 21 * credits.Credit}) {
		t.Fatalf("the statement's spenders: %+v", st.Spenders)
	}
	f.rebuilds("studio")
}

// TestJobProviderFailure: a render that fails on the provider's side is
// not paid: the user pays uploads and AI creation and gets the rest back;
// a render that completed and then turned out broken is refunded.
func TestJobProviderFailure(t *testing.T) {
	f := newBudgetFixture(t)
	f.grant("studio", "seed", 100*credits.Credit)
	est := f.estimate(testJob)

	run := f.start("studio", "job-1", est)
	f.complete(run, credits.StepUploads)
	f.complete(run, credits.StepAICreation)
	failed, err := run.Fail(f.ctx, credits.JobFailure{Kind: credits.FailureProvider, Step: credits.StepRender, Metadata: map[string]string{"why": "renderer timeout"}})
	if err != nil || len(failed) != 1 || failed[0].Kind != credits.KindRelease || failed[0].Held != -5*credits.Credit ||
		failed[0].Failure != credits.FailureProvider || failed[0].Key != "job-1/fail" || failed[0].Metadata["why"] != "renderer timeout" {
		t.Fatalf("Fail: %+v, %v", failed, err)
	}
	f.balance("studio", 84*credits.Credit, 0) // 100 - 13 - 3
	if run.Status != credits.JobFailed || run.Failure != credits.FailureProvider {
		t.Fatalf("run after Fail: %+v", run)
	}
	f.resumes(run)
	if _, err := run.Retry(f.ctx, credits.StepRender); !errors.Is(err, credits.ErrJobFinished) {
		t.Fatalf("Retry of a failed run: %v", err)
	}
	if _, err := run.Complete(f.ctx, credits.StepRender); !errors.Is(err, credits.ErrJobFinished) {
		t.Fatalf("Complete of a failed run: %v", err)
	}
	// Failing again changes nothing.
	if again, err := run.Fail(f.ctx, credits.JobFailure{Kind: credits.FailureProvider, Step: credits.StepRender, Metadata: map[string]string{"why": "renderer timeout"}}); !errors.Is(err, credits.ErrJobFinished) {
		t.Fatalf("Fail again: %+v, %v", again, err)
	}
	resumed, err := f.l.Job(f.ctx, "studio", "job-1")
	if err != nil {
		t.Fatal(err)
	}
	if again, err := resumed.Fail(f.ctx, credits.JobFailure{Kind: credits.FailureProvider, Step: credits.StepRender}); !errors.Is(err, credits.ErrJobFinished) || len(again) != 0 {
		t.Fatalf("Fail of a resumed failed run: %+v, %v", again, err)
	}

	// The render completed, then its output turned out broken.
	run2 := f.start("studio", "job-2", est)
	for _, st := range []credits.JobStep{credits.StepUploads, credits.StepAICreation, credits.StepRender} {
		f.complete(run2, st)
	}
	f.balance("studio", 63*credits.Credit, 0)
	refunds, err := run2.Fail(f.ctx, credits.JobFailure{Kind: credits.FailureProvider, Step: credits.StepRender})
	if err != nil || len(refunds) != 1 || refunds[0].Kind != credits.KindRefund || refunds[0].Amount != 5*credits.Credit || refunds[0].Spender != "key_api" {
		t.Fatalf("Fail after the render completed: %+v, %v; want its capture refunded", refunds, err)
	}
	f.balance("studio", 68*credits.Credit, 0)
	f.resumes(run2)
	f.rebuilds("studio")
}

// TestJobUserCancel: what ran is paid: the steps completed, and the step
// running when the user cancelled.
func TestJobUserCancel(t *testing.T) {
	f := newBudgetFixture(t)
	f.grant("studio", "seed", 100*credits.Credit)
	est := f.estimate(testJob)
	run := f.start("studio", "job-1", est)
	f.complete(run, credits.StepUploads)
	es, err := run.Fail(f.ctx, credits.JobFailure{Kind: credits.FailureUserCancel, Step: credits.StepAICreation})
	if err != nil || len(es) != 2 || es[0].Kind != credits.KindCapture || es[0].Action != credits.PublicAPIAICreation ||
		es[1].Kind != credits.KindRelease || es[1].Held != -5*credits.Credit || es[0].Failure != credits.FailureUserCancel {
		t.Fatalf("a cancel during AI creation: %+v, %v", es, err)
	}
	f.balance("studio", 84*credits.Credit, 0)
	f.resumes(run)

	// Cancelled between steps: only what completed is paid.
	run2 := f.start("studio", "job-2", est)
	f.complete(run2, credits.StepUploads)
	if _, err := run2.Fail(f.ctx, credits.JobFailure{Kind: credits.FailureUserCancel}); err != nil {
		t.Fatal(err)
	}
	f.balance("studio", 71*credits.Credit, 0)
	f.resumes(run2)
	f.rebuilds("studio")
}

// TestJobRetryAfterLapse: a hold that lapsed before a retry is held again,
// for what the steps left cost; a run resumed after a crash goes on.
func TestJobRetryAfterLapse(t *testing.T) {
	f := newBudgetFixture(t)
	f.grant("studio", "seed", 100*credits.Credit)
	est := f.estimate(testJob)
	run := f.start("studio", "job-1", est)
	f.complete(run, credits.StepUploads)
	f.clock.Advance(31 * time.Minute)
	if _, err := run.Complete(f.ctx, credits.StepAICreation); !errors.Is(err, credits.ErrHoldClosed) {
		t.Fatalf("Complete after the hold lapsed: %v", err)
	}
	// The process crashes; another resumes the run from the ledger.
	resumed, err := f.l.Job(f.ctx, "studio", "job-1")
	if err != nil || resumed.Status != credits.JobLapsed {
		t.Fatalf("Job after the lapse: %+v, %v", resumed, err)
	}
	h, err := resumed.Retry(f.ctx, credits.StepAICreation)
	if err != nil || h.Held != 8*credits.Credit || h.Key != "job-1/hold/2" || !h.ExpiresAt.Equal(f.clock.Now().Add(30*time.Minute)) || !h.MultiCapture {
		t.Fatalf("Retry after the lapse: %+v, %v; want a hold of the 8 left for 30 minutes", h, err)
	}
	// The same retry from the first process: the same hold, once.
	if again, err := run.Retry(f.ctx, credits.StepAICreation); err != nil || again.ID != h.ID {
		t.Fatalf("the retry again: %+v, %v", again, err)
	}
	f.balance("studio", 87*credits.Credit, 8*credits.Credit)
	f.complete(resumed, credits.StepAICreation)
	f.complete(resumed, credits.StepRender)
	f.balance("studio", 79*credits.Credit, 0)
	f.resumes(resumed)
	f.rebuilds("studio")
}

func TestJobRefusals(t *testing.T) {
	f := newBudgetFixture(t)
	f.grant("studio", "seed", 10*credits.Credit)
	est := f.estimate(testJob)
	// The account cannot cover it: nothing is held.
	if _, err := f.l.StartJob(f.ctx, "studio", credits.JobRequest{Key: "big", Estimate: est}); !errors.Is(err, credits.ErrInsufficientCredits) {
		t.Fatalf("StartJob over the balance: %v", err)
	}
	tampered := est
	tampered.Lines = append([]credits.EstimateLine(nil), est.Lines...)
	tampered.Lines[0].UnitPrice = credits.Credit
	tampered.Lines[0].Subtotal = 2 * credits.Credit
	tampered.Total -= 8 * credits.Credit
	unknown := est
	unknown.PriceVersion = "v0"
	total := est
	total.Total++
	for name, c := range map[string]struct {
		r    credits.JobRequest
		want error
	}{
		"tampered price": {credits.JobRequest{Key: "k", Estimate: tampered}, credits.ErrInvalidInput},
		"unknown table":  {credits.JobRequest{Key: "k", Estimate: unknown}, credits.ErrUnknownPriceVersion},
		"wrong total":    {credits.JobRequest{Key: "k", Estimate: total}, credits.ErrInvalidInput},
		"no estimate":    {credits.JobRequest{Key: "k"}, credits.ErrInvalidInput},
		"long key":       {credits.JobRequest{Key: string(make([]byte, 233)), Estimate: est}, credits.ErrInvalidInput},
		"bad spender":    {credits.JobRequest{Key: "k", Estimate: est, Spender: "a*"}, credits.ErrInvalidInput},
	} {
		if _, err := f.l.StartJob(f.ctx, "studio", c.r); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
	if _, err := f.l.Job(f.ctx, "studio", "nope"); !errors.Is(err, credits.ErrJobNotFound) {
		t.Fatalf("Job of an unknown key: %v", err)
	}
	f.must(f.l.Hold(f.ctx, "studio", credits.HoldRequest{Key: "plain", Amount: credits.Credit}))
	if _, err := f.l.Job(f.ctx, "studio", "plain"); !errors.Is(err, credits.ErrJobNotFound) {
		t.Fatalf("Job of a plain hold's key: %v", err)
	}
	json := f.estimate(credits.Job{Pipeline: credits.JSONToMP4})
	run := f.start("studio", "json", json)
	if _, err := run.Complete(f.ctx, credits.StepAICreation); !errors.Is(err, credits.ErrInvalidInput) {
		t.Fatalf("Complete of a step the job has not: %v", err)
	}
	if _, err := run.Fail(f.ctx, credits.JobFailure{Kind: credits.FailureProvider}); !errors.Is(err, credits.ErrInvalidInput) {
		t.Fatalf("a provider failure with no step: %v", err)
	}
}

// TestParallelJobsOfOneKey: 16 jobs of one API key started at once never
// hold or spend more than its budget.
func TestParallelJobsOfOneKey(t *testing.T) {
	f := newBudgetFixture(t)
	f.grant("studio", "seed", 1000*credits.Credit)
	f.budget("studio", "b", "key_api", 50*credits.Credit, credits.Day(nil))
	est := f.estimate(testJob) // 21: two fit in 50
	var wg sync.WaitGroup
	var mu sync.Mutex
	started := 0
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run, err := f.l.StartJob(f.ctx, "studio", credits.JobRequest{Key: fmt.Sprint("job-", i), Estimate: est, Spender: "key_api"})
			if errors.Is(err, credits.ErrBudgetExceeded) {
				return
			}
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			started++
			mu.Unlock()
			for _, st := range []credits.JobStep{credits.StepUploads, credits.StepAICreation, credits.StepRender} {
				if _, err := run.Complete(f.ctx, st); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if u := f.usage("studio", "key_api"); started != 2 || u.Spent != 42*credits.Credit || u.Held != 0 {
		t.Fatalf("%d jobs started, usage %+v; want 2 and 42 spent", started, u)
	}
	f.rebuilds("studio")
}
