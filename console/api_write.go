package console

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/avstudio/credits"
)

// This file is the API's writes. Each takes its idempotency key from the
// Idempotency-Key header, its account (and hold or entry) from the path
// and the rest from a strict JSON body; it answers 201 Created with the
// entry, and a replay of a request already applied with the same status,
// the first result and the header Idempotent-Replayed: true.

// idempotencyKey reads the Idempotency-Key header; the ledger checks it.
func idempotencyKey(r *http.Request) string { return r.Header.Get("Idempotency-Key") }

// write runs one write and answers with its entry, reporting a replay
// the way payment APIs do.
func (h *handler) write(w http.ResponseWriter, r *http.Request, op func(ctx context.Context, account, key string) (credits.Entry, error)) {
	replayed := false
	ctx := credits.WithObserver(r.Context(), func(_ context.Context, ev credits.Event) {
		if ev.Replayed {
			replayed = true
		}
	})
	e, err := op(ctx, r.PathValue("account"), idempotencyKey(r))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	h.writeJSON(w, r, http.StatusCreated, e)
}

// POST /api/accounts/{account}/grants
// {"amount", "source", "expires_at", "priority", "metadata"}.
func (h *handler) apiGrant(w http.ResponseWriter, r *http.Request) {
	var req credits.GrantRequest
	var priority int64
	err := readObject(r, map[string]func(string, json.RawMessage) error{
		"amount":     amountField(&req.Amount),
		"source":     textField(&req.Source),
		"expires_at": timeField(&req.ExpiresAt),
		"priority":   intField(&priority),
		"metadata":   metadataField(&req.Metadata),
	})
	if err == nil && (priority < -1<<31 || priority > 1<<31-1) {
		err = badRequest("priority", "", "must fit in 32 bits")
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	req.Priority = int32(priority)
	h.write(w, r, func(ctx context.Context, account, key string) (credits.Entry, error) {
		req.Key = key
		return h.ledger.Grant(ctx, account, req)
	})
}

// POST /api/accounts/{account}/charges
// {"action", "resolution", "quantity", "price_version"} or {"amount"}, and
// "spender" and "metadata".
func (h *handler) apiCharge(w http.ResponseWriter, r *http.Request) {
	var req credits.ChargeRequest
	err := readObject(r, map[string]func(string, json.RawMessage) error{
		"action":        textField(&req.Action),
		"resolution":    textField(&req.Resolution),
		"quantity":      intField(&req.Quantity),
		"price_version": stringField(&req.PriceVersion),
		"amount":        amountField(&req.Amount),
		"spender":       stringField(&req.Spender),
		"metadata":      metadataField(&req.Metadata),
	})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.write(w, r, func(ctx context.Context, account, key string) (credits.Entry, error) {
		req.Key = key
		return h.ledger.Charge(ctx, account, req)
	})
}

// POST /api/accounts/{account}/holds
// {"amount", "deadline", "spender", "multi_capture", "metadata"}.
func (h *handler) apiHold(w http.ResponseWriter, r *http.Request) {
	var req credits.HoldRequest
	err := readObject(r, map[string]func(string, json.RawMessage) error{
		"amount":        amountField(&req.Amount),
		"deadline":      timeField(&req.Deadline),
		"spender":       stringField(&req.Spender),
		"multi_capture": boolField(&req.MultiCapture),
		"metadata":      metadataField(&req.Metadata),
	})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.write(w, r, func(ctx context.Context, account, key string) (credits.Entry, error) {
		req.Key = key
		return h.ledger.Hold(ctx, account, req)
	})
}

// POST /api/accounts/{account}/holds/{hold}/capture {"amount", "final", "metadata"}.
func (h *handler) apiCapture(w http.ResponseWriter, r *http.Request) {
	var req credits.CaptureRequest
	id, err := pathID(r, "hold")
	if err == nil {
		err = readObject(r, map[string]func(string, json.RawMessage) error{
			"amount":   amountField(&req.Amount),
			"final":    boolField(&req.Final),
			"metadata": metadataField(&req.Metadata),
		})
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	req.Hold = id
	h.write(w, r, func(ctx context.Context, account, key string) (credits.Entry, error) {
		req.Key = key
		return h.ledger.Capture(ctx, account, req)
	})
}

// POST /api/accounts/{account}/holds/{hold}/release {"metadata"}.
func (h *handler) apiRelease(w http.ResponseWriter, r *http.Request) {
	var req credits.ReleaseRequest
	id, err := pathID(r, "hold")
	if err == nil {
		err = readObject(r, map[string]func(string, json.RawMessage) error{
			"metadata": metadataField(&req.Metadata),
		})
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	req.Hold = id
	h.write(w, r, func(ctx context.Context, account, key string) (credits.Entry, error) {
		req.Key = key
		return h.ledger.Release(ctx, account, req)
	})
}

// POST /api/accounts/{account}/entries/{id}/refund {"amount", "metadata"}:
// refund a charge or capture, by default all that is left of it.
func (h *handler) apiRefund(w http.ResponseWriter, r *http.Request) {
	var req credits.RefundRequest
	id, err := pathID(r, "id")
	if err == nil {
		err = readObject(r, map[string]func(string, json.RawMessage) error{
			"amount":   amountField(&req.Amount),
			"metadata": metadataField(&req.Metadata),
		})
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	req.Entry = id
	h.write(w, r, func(ctx context.Context, account, key string) (credits.Entry, error) {
		req.Key = key
		return h.ledger.Refund(ctx, account, req)
	})
}
