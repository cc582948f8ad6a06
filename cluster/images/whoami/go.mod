module platform.local/images/whoami

go 1.22
