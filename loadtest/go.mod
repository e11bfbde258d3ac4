module ticketing.dev/loadtest

go 1.26.0
