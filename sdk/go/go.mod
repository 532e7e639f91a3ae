module github.com/permission-mongo/permission-mongo/sdk/go

go 1.23
