// Package credits is an embeddable library for selling work for prepaid
// credits: it prices billable actions from versioned price tables,
// estimates public-API jobs before they run, and keeps an append-only
// ledger of grants, charges and holds per account.
//
// The root package imports only the standard library and
// github.com/shopspring/decimal. Nothing in it uses float64.
//
// # Amounts
//
// [Credits] is an exact amount, an int64 count of micro-credits (10^-6
// credit). Use the constant [Credit] in code (3*credits.Credit), [Parse]
// for text ("2.5"), and [Credits.Add], [Credits.Sub] and [Credits.Mul],
// which return [ErrOverflow] instead of wrapping. JSON encodes an amount as
// a plain number (18, 2.5), exactly.
//
// # Prices
//
// A [PriceTable] holds a price for every [Action] (chat_message,
// video_generation, render, upload_video, ...), the video resolution
// multipliers (720p 1x, 1080p 2x, 4k 4x), a version string and the instant
// it takes effect. A [PriceBook] holds the versions and answers which
// table was in force at an instant ([PriceBook.At]) or had a version
// ([PriceBook.Version]). [DefaultPriceBook] holds the R-Credits table,
// version "v1", in force from 2025-01-01T00:00:00Z; testdata/prices/default.json
// is the same book as JSON, the form [LoadPriceBook] reads.
//
//	table, _ := credits.DefaultPriceBook().At(time.Now())
//	q, _ := table.Quote(credits.VideoGeneration, credits.QuoteOptions{Resolution: credits.Res4K, Quantity: 2})
//	// q.UnitPrice == 40 credits, q.Total == 80 credits, q.PriceVersion == "v1"
//
// # Rounding
//
// The library rounds in one place, by one rule. A unit price times a
// resolution multiplier (video_generation at 1080p or 4k) is computed
// exactly in decimal and rounded half away from zero to the micro-credit
// (0.0000005 credits becomes 0.000001, 4.9999995 becomes 5), once, when
// the table is built ([NewPriceTable], or a table loaded from JSON);
// [PriceTable.UnitPrice] returns that price and [PriceTable.Multiplier]
// the exact multiplier. Nothing else rounds: [Parse] refuses an amount
// finer than a micro-credit, and quantities, quotes ([PriceTable.Quote]),
// estimate lines and totals are exact integer arithmetic on micro-credits,
// where an amount that does not fit is an error wrapping [ErrOverflow],
// never a wrapped-around number. The example of [NewPriceTable] shows it.
//
// # Estimating a public-API job
//
// [PriceTable.EstimateJob] prices a [Job] (decoded strictly from JSON by
// [DecodeJob]) and returns an [Estimate]: the total, the price version, and
// one line per action. A prompt_to_mp4 job costs its uploads, 3 credits of
// public_api_ai_creation and 5 of render; a json_to_mp4 job its uploads and
// 5 of render. Uploaded files and imported remote assets are charged by
// asset type (video 5, image 0, audio 3, screen recording 0), a screen
// recording's analysis 5 where asked, and the same URL twice in a job once.
// A worked example, the job
//
//	{"pipeline": "prompt_to_mp4", "prompt": "a product demo",
//	 "uploads": [{"name": "intro.mp4", "type": "video"},
//	             {"name": "demo.vidova", "type": "screen_recording", "analyze": true}],
//	 "remote_assets": [{"url": "https://cdn.example.com/a.mp3"},
//	                   {"url": "https://cdn.example.com/logo", "type": "image"}]}
//
// is estimated, with the default table, as
//
//	upload_video               1 ×  5 =  5   intro.mp4
//	upload_image               1 ×  0 =  0   .../logo, typed image (free, but listed)
//	upload_audio               1 ×  3 =  3   .../a.mp3, typed by its extension
//	screen_recording_upload    1 ×  0 =  0   demo.vidova
//	screen_recording_analysis  1 ×  5 =  5   demo.vidova asks for analysis
//	public_api_ai_creation     1 ×  3 =  3   prompt_to_mp4 only
//	render                     1 ×  5 =  5   every job
//	total                               21 credits, price table v1
//
// Bad input (an unknown pipeline or field, a malformed URL, more than
// [MaxJobAssets] assets, ...) gets an [*InputError] naming the field at
// fault, such as remote_assets[3].url, and no estimate. The estimator is
// pure and cheap (one allocation for a typical job), so a service can call
// it on every request. An estimate records its price version; charge with
// that version and the user pays what they were shown.
//
// # The ledger
//
// A [Ledger] keeps each account's credits as an append-only history of
// [Entry] values: grants, charges, holds and their captures or releases,
// refunds, expirations and rollovers. The balance is always the sum of the
// entries' amounts. Every write takes an idempotency key: the same key
// with the same request returns the first result and changes nothing; the
// same key with another request fails with [ErrIdempotencyConflict]. A
// failed write changes nothing, and a charge or hold the account cannot
// cover fails with [ErrInsufficientCredits] (an [*InsufficientCreditsError]
// with the shortfall).
//
//	l := credits.NewMemoryLedger(credits.Options{})
//	email, _ := credits.NormalizeEmail("Alice@Example.com")         // "alice@example.com": one claim key per address
//	l.ClaimFreeTier(ctx, "alice", email)                           // +30, once per account and per email
//	h, _ := l.Hold(ctx, "alice", credits.HoldRequest{Key: "job-7/hold", Amount: est.Total})
//	l.Capture(ctx, "alice", credits.CaptureRequest{Key: "job-7/capture", Hold: h.ID, Amount: cost})
//	l.Charge(ctx, "alice", credits.ChargeRequest{Key: "msg-42", Action: credits.ChatMessage})
//
// Credits live in lots, one per grant. One order decides which lot pays,
// for charges, holds, expiry and rollover alike: higher priority first,
// then the soonest expiry (a lot that never expires last), then the
// oldest. A hold reserves credits from lots; released, they go back to the
// same lots. Expiry is evaluated whenever the account is read: an expired
// lot is never spendable, and the next write (or [Ledger.Sweep]) records
// it as an entry. A hold not captured or released by its deadline lapses
// by itself the same way. A hold closes at its capture, unless it was made
// with [HoldRequest.MultiCapture]: then it is captured in parts, each at
// most what is left, until a capture with Final or of all that is left.
// Available = total - held, and may go below zero only as far as
// [Options.Overdraft] allows.
//
// Time is the ledger's clock ([Options.Now]): tests move it. Instants are
// kept in UTC to the microsecond, and an account's entries are in time
// order as well as ID order.
//
// # Subscriptions and rollover
//
// A [Subscription] ties an account to a [Plan] (credits per period,
// monthly or yearly from an anchor instant in a time zone; month ends
// clamp: Jan 31, Feb 28 or 29, Mar 31). [Ledger.Renew] grants every
// period that has started and is not granted yet, each exactly once, from
// any number of service instances at once. At each period's end the plan's
// [RolloverPolicy] decides what unused credits do: by default everything
// rolls over and nothing expires (the R-Credits rule); a cap, nothing, a
// lifetime, or a carry into a new lot are the alternatives.
// [Ledger.Statement] gives a period's opening balance, grants by source,
// spending by action, refunds, expirations and closing balance, adding up
// exactly.
//
// # The feed, consumers and notices
//
// [Ledger.Feed] reads every account's entries in commit order, on every
// backend, never an entry before it is durable; [Ledger.Consume] runs a
// durable consumer of it, whose position the backend stores, one instance
// at a time (a lease), handing a failed batch over again. Writes also
// write notices (see [NoticeKind]) in the same atomic step: a low balance
// ([Options].LowBalance) and credits expiring soon
// ([Options].ExpiringNotice); lapsed holds, free-tier claims and renewals
// are notices by [NoticeOf]. [AutoTopUp] is a consumer that recharges an
// account after a low balance, never twice. [Ledger.SweepAll], from a
// scheduler, writes what time alone makes due.
//
// # Spenders and budgets
//
// One account's balance may be spent by several spenders (the API keys of
// a team, its members, its agents), each named on the charges and holds it
// makes ([ChargeRequest.Spender], [HoldRequest.Spender]); the captures,
// releases and lapses of a hold carry its spender, a refund the refunded
// entry's. [HistoryQuery].Spender reads one spender's history, and a
// [Statement] breaks spending down by spender. A budget caps what
// spenders may spend per window: a day, a week (from Monday) or a month in
// a time zone, or the billing period of a subscription ([Window]). A
// charge or hold that would take a spender over a cap fails with
// [ErrBudgetExceeded] (a [*BudgetExceededError] naming the spender, the
// budget, its cap and window, what is spent and held in it and when it
// resets), decided in the same atomic step as the balance check, so that
// no number of parallel requests can overspend it.
//
//	l.SetBudget(ctx, "acme", credits.BudgetRequest{Key: "cap/key_live_1", Spender: "key_live_1",
//		Cap: 100 * credits.Credit, Window: credits.Day(paris)})
//	l.Charge(ctx, "acme", credits.ChargeRequest{Key: reqID, Action: credits.ChatMessage, Spender: "key_live_1"})
//	u, _ := l.Usage(ctx, "acme", "key_live_1") // u[0].Spent, Held, Remaining, ResetsAt
//
// A budget caps one spender ("key_live_7"), a group of them together
// ("key_*": every spender whose name begins with "key_"; "*": every
// spender), or, as the default (""), each spender that no other budget
// covers, each on its own. A spender is held to every budget that covers
// it: its own and those of its groups; the default only when there is no
// other. Charges and holds with no spender are held to no budget.
//
// What a budget counts in a window: the charges and captures of its
// spenders made in the window, and every hold of theirs still open (a hold
// counts while it is open, whenever it was made: it may yet be spent). A
// release gives the budget back what the hold held, a capture of less than
// the hold gives back the rest when the hold closes, a lapse gives it all
// back. Refunds give nothing back: a budget caps spending, and a refund is
// a correction after the fact.
//
// Budgets are entries of the account's history (kind budget), set,
// changed and removed by [Ledger.SetBudget] under an idempotency key, so
// every change is audited and replays with the history. The state keeps,
// per budget and spender, the running sum of the current window only: what
// a budget costs does not grow with the history. A budget counts what is
// spent from the moment it is set: spending earlier in the same window is
// not counted (set a key's budget when the key is made). A change of a
// budget's cap keeps its count; a change of its window carries the count
// of the window it was in into the new window.
//
// # Job runs
//
// A public-API job is priced before it runs ([PriceTable.EstimateJob]) and
// paid step by step as it runs. [Ledger.StartJob] holds the estimate (a
// multi-capture hold, see [HoldRequest.MultiCapture], of the job's
// spender); [JobRun.Complete] captures one step's lines of the estimate
// (uploads, public_api_ai_creation, render: see [JobStep]), at the
// estimate's price version, when the step is done; [JobRun.Fail] ends the
// run and releases what did not run; [JobRun.Retry] runs a failed step
// again inside the same hold, holding again only if the hold lapsed. The
// user pays for what ran and gets the rest back, and a retried step is
// never held or charged twice.
//
// Every write of a run is idempotent under a key derived from the job's
// key K: the hold under K itself, a step's captures under K + "/" + the
// step's name ("job-7/render"), a failure under K + "/fail", and the hold a
// retry makes after a lapse under K + "/hold/" + its number (2, 3, ...). So
// a run is its entries: [Ledger.Job] rebuilds it from them, after a crash,
// with a few reads by key.
//
// The refund policy, by [FailureKind]:
//
//   - FailureProvider: the job failed on our side or a provider's (the
//     renderer crashed, a model timed out). The step that failed is never
//     paid: if it was completed (its output turned out broken), its
//     captures are refunded in full. The steps completed before it stay
//     paid; the rest of the hold is released.
//   - FailureUserCancel: the user stopped the job. What ran is paid: the
//     steps completed, and the step that was running when the user
//     cancelled (if the failure names one), captured in full since a step
//     has one price; the rest of the hold is released.
//
// # Storage
//
// A [Backend] stores accounts: each account's state and its entries. It
// holds no business rules; every rule above runs in this package, once,
// for every backend. [MemoryBackend] keeps them in memory;
// github.com/avstudio/credits/sqliteledger in one SQLite file, and
// github.com/avstudio/credits/pgledger in PostgreSQL, shared by any number
// of service instances. A backend of your own is five methods, whose whole
// contract is in backend.go (see [Backend]); the package
// github.com/avstudio/credits/ledgertest checks it with one call,
// ledgertest.Run(t, open).
//
// # Errors
//
// Every error is, or wraps, one of the sentinel errors ([ErrInvalidInput],
// [ErrOverflow], [ErrUnknownPriceVersion], [ErrInsufficientCredits], ...),
// so errors.Is answers what kind of failure it was; typed errors such as
// [*InputError] carry the details for errors.As.
//
// # The command line
//
// github.com/avstudio/credits/cmd/credits prints prices and estimates:
//
//	go run ./cmd/credits prices
//	go run ./cmd/credits quote video_generation --resolution 4k --quantity 2
//	go run ./cmd/credits estimate testdata/jobs/prompt_to_mp4.json
//
// and its subcommand credits ledger runs the ledger's operations, by the
// rules above, on a SQLite file (--db PATH, default ./credits.db) or on
// PostgreSQL (--db postgres://...):
//
//	go run ./cmd/credits ledger grant --account alice --free-tier --claim alice@example.com
//	go run ./cmd/credits ledger grant --account alice --amount 100 --source topup --key order-1234
//	go run ./cmd/credits ledger charge --account alice video_generation --resolution 1080p --key clip-2
//	go run ./cmd/credits ledger balance --account alice --json
//	go run ./cmd/credits ledger statement --account alice --period 2025-06
//
// Its subcommands are grant, charge, hold, capture, release, refund (the
// writes), balance, history, statement, feed and notices (the reads),
// verify and backup. A write takes --key, its idempotency key, prints its
// entry and the balance now, and, run again with the same key, says it was
// replayed and changed nothing. credits ledger verify (--account A |
// --all) runs [Ledger.Verify] or [Ledger.VerifyAll], prints every
// difference and exits 1 if there is any; credits ledger backup copies a
// SQLite ledger while it is in use.
// 'credits ledger -h' lists the subcommands, 'credits ledger SUBCOMMAND
// -h' their flags.
//
// credits serve runs the console (github.com/avstudio/credits/console:
// account and support pages and a JSON API) on the same ledgers:
//
//	go run ./cmd/credits serve --db credits.db --addr 127.0.0.1:8080 --admin-token T
package credits
