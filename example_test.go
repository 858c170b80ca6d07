package credits_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/avstudio/credits"
	"github.com/shopspring/decimal"
)

func ExampleParse() {
	price, err := credits.Parse("2.5")
	if err != nil {
		panic(err)
	}
	total, err := price.Mul(3)
	if err != nil {
		panic(err)
	}
	fmt.Println(total, total == 7*credits.Credit+credits.Credit/2)

	_, err = credits.Parse("0.0000001") // finer than a micro-credit: refused, never rounded
	fmt.Println(err, errors.Is(err, credits.ErrInvalidInput))
	// Output:
	// 7.5 true
	// amount: "0.0000001": more than 6 decimal places true
}

func ExamplePriceTable_Quote() {
	table, err := credits.DefaultPriceBook().At(time.Now())
	if err != nil {
		panic(err)
	}
	q, err := table.Quote(credits.VideoGeneration, credits.QuoteOptions{Resolution: credits.Res4K, Quantity: 2})
	if err != nil {
		panic(err)
	}
	fmt.Printf("%d × %s at %s: %s each, %s in all (prices %s)\n", q.Quantity, q.Action, q.Resolution, q.UnitPrice, q.Total, q.PriceVersion)

	b, _ := json.Marshal(q)
	fmt.Println(string(b))
	// Output:
	// 2 × video_generation at 4k: 40 each, 80 in all (prices v1)
	// {"action":"video_generation","resolution":"4k","quantity":2,"unit_price":40,"total":80,"price_version":"v1"}
}

func ExamplePriceTable_UnitPrice() {
	table := credits.DefaultPriceTable()
	for _, r := range credits.Resolutions() {
		p, _ := table.UnitPrice(credits.VideoGeneration, r)
		fmt.Printf("video_generation %-5s %sx = %s\n", r, table.Multiplier(r), p)
	}
	_, err := table.UnitPrice(credits.Render, credits.Res4K)
	fmt.Println(err)
	// Output:
	// video_generation 720p  1x = 10
	// video_generation 1080p 2x = 20
	// video_generation 4k    4x = 40
	// resolution: "4k": only video_generation has a resolution
}

// A multiplier that leaves a fraction of a micro-credit is rounded half
// away from zero, once, when the table is built; a quote multiplies the
// rounded unit price exactly.
func ExampleNewPriceTable() {
	prices := map[credits.Action]credits.Credits{}
	for _, a := range credits.Actions() {
		prices[a] = credits.DefaultPriceTable().Price(a)
	}
	prices[credits.VideoGeneration] = credits.MustParse("3.333333")
	table, err := credits.NewPriceTable("2025-07", time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC), prices,
		map[credits.Resolution]decimal.Decimal{
			credits.Res720p:  decimal.NewFromInt(1),
			credits.Res1080p: decimal.RequireFromString("1.5"), // 4.9999995 -> 5
			credits.Res4K:    decimal.RequireFromString("2.5"), // 8.3333325 -> 8.333333
		})
	if err != nil {
		panic(err)
	}
	for _, r := range credits.Resolutions() {
		p, _ := table.UnitPrice(credits.VideoGeneration, r)
		fmt.Println(r, table.Multiplier(r), p)
	}
	q, err := table.Quote(credits.VideoGeneration, credits.QuoteOptions{Resolution: credits.Res4K, Quantity: 3})
	if err != nil {
		panic(err)
	}
	fmt.Println("3 at 4k:", q.Total) // 3 × 8.333333, not 3.333333 × 2.5 × 3 rounded

	delete(prices, credits.Render)
	_, err = credits.NewPriceTable("bad", time.Now(), prices, nil)
	fmt.Println(err)
	// Output:
	// 720p 1 3.333333
	// 1080p 1.5 5
	// 4k 2.5 8.333333
	// 3 at 4k: 24.999999
	// prices.render: missing: every action must be priced
}

func ExamplePriceBook_At() {
	v1 := credits.DefaultPriceTable()
	prices := map[credits.Action]credits.Credits{}
	for _, a := range credits.Actions() {
		prices[a] = v1.Price(a)
	}
	prices[credits.Render] = 4 * credits.Credit
	mults := map[credits.Resolution]decimal.Decimal{}
	for _, r := range credits.Resolutions() {
		mults[r] = v1.Multiplier(r)
	}
	v2, err := credits.NewPriceTable("v2", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), prices, mults)
	if err != nil {
		panic(err)
	}
	book, err := credits.NewPriceBook(v1, v2)
	if err != nil {
		panic(err)
	}
	for _, at := range []string{"2025-06-30T12:00:00Z", "2026-01-01T00:00:00Z"} {
		t, _ := time.Parse(time.RFC3339, at)
		table, _ := book.At(t)
		fmt.Println(at, table.Version(), "render costs", table.Price(credits.Render))
	}
	_, err = book.At(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	fmt.Println(errors.Is(err, credits.ErrUnknownPriceVersion))
	// Output:
	// 2025-06-30T12:00:00Z v1 render costs 5
	// 2026-01-01T00:00:00Z v2 render costs 4
	// true
}

func ExampleLoadPriceBook() {
	f, err := os.Open("testdata/prices/default.json")
	if err != nil {
		panic(err)
	}
	defer f.Close()
	book, err := credits.LoadPriceBook(f)
	if err != nil {
		panic(err)
	}
	t := book.Tables()[0]
	fmt.Println(t.Version(), t.EffectiveFrom().Format(time.RFC3339), t.Price(credits.ChatMessage))

	_, err = credits.LoadPriceBook(strings.NewReader(`{"tables": [{"version": "v1", "prices": {"chat_mesage": 3}}]}`))
	fmt.Println(err)
	// Output:
	// v1 2025-01-01T00:00:00Z 3
	// tables[0].prices.chat_mesage: unknown action (want chat_message, live_voice_chat, text_to_speech, image_generation, music_generation, video_generation, public_api_ai_creation, render, upload_video, upload_image, upload_audio, screen_recording_upload or screen_recording_analysis)
}

func ExamplePriceTable_EstimateJob() {
	job := credits.Job{
		Pipeline: credits.PromptToMP4,
		Prompt:   "A product demo with upbeat music",
		Uploads: []credits.Upload{
			{Name: "intro.mp4", Type: credits.AssetVideo},
			{Name: "demo.vidova", Analyze: true}, // type from the extension
		},
		RemoteAssets: []credits.RemoteAsset{
			{URL: "https://cdn.example.com/a.mp3"},
			{URL: "https://cdn.example.com/logo", Type: credits.AssetImage},
			{URL: "https://cdn.example.com/a.mp3"}, // the same URL again: charged once
		},
	}
	est, err := credits.DefaultPriceTable().EstimateJob(job)
	if err != nil {
		panic(err)
	}
	for _, l := range est.Lines {
		fmt.Printf("%-26s %d × %s = %s\n", l.Action, l.Quantity, l.UnitPrice, l.Subtotal)
	}
	fmt.Printf("total %s credits (prices %s)\n", est.Total, est.PriceVersion)
	// Output:
	// upload_video               1 × 5 = 5
	// upload_image               1 × 0 = 0
	// upload_audio               1 × 3 = 3
	// screen_recording_upload    1 × 0 = 0
	// screen_recording_analysis  1 × 5 = 5
	// public_api_ai_creation     1 × 3 = 3
	// render                     1 × 5 = 5
	// total 21 credits (prices v1)
}

func ExampleDecodeJob() {
	job, err := credits.DecodeJob(strings.NewReader(`{
		"pipeline": "json_to_mp4",
		"uploads": [{"name": "clip.MOV"}, {"name": "cover.png"}],
		"remote_assets": [{"url": "https://cdn.example.com/theme.mp3?dl=1"}]
	}`))
	if err != nil {
		panic(err)
	}
	est, _ := credits.DefaultPriceTable().EstimateJob(job)
	b, _ := json.Marshal(est)
	fmt.Println(string(b))

	_, err = credits.DecodeJob(strings.NewReader(`{"pipeline": "json_to_mp4", "remote_assets": [{"url": "ftp://files.example.com/a.mp4"}]}`))
	fmt.Println(err)
	var ie *credits.InputError
	if errors.As(err, &ie) {
		fmt.Println(ie.Field)
	}
	// Output:
	// {"pipeline":"json_to_mp4","price_version":"v1","total":13,"lines":[{"action":"upload_video","quantity":1,"unit_price":5,"subtotal":5},{"action":"upload_image","quantity":1,"unit_price":0,"subtotal":0},{"action":"upload_audio","quantity":1,"unit_price":3,"subtotal":3},{"action":"render","quantity":1,"unit_price":5,"subtotal":5}]}
	// remote_assets[0].url: "ftp://files.example.com/a.mp4": must be an http:// or https:// URL
	// remote_assets[0].url
}
