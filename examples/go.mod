module github.com/avstudio/credits/examples

go 1.26

require github.com/avstudio/credits v0.0.0

require (
	github.com/google/go-cmp v0.7.0 // indirect
	github.com/shopspring/decimal v1.4.0 // indirect
	pgregory.net/rapid v1.2.0 // indirect
)

replace github.com/avstudio/credits => ..
