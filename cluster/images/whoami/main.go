// Command whoami is a STAND-IN for traefik/whoami v1.11.0, whose source the Go
// module proxy here does not serve. It implements that program's documented
// behaviour with the standard library only: the flags and WHOAMI_* variables, `/`
// (the request as received), `/api` (the same as JSON), `/health` (a status code
// that POST changes), `/data`, `/bench` and a WebSocket echo on `/echo` (RFC 6455,
// written out here because the standard library has no WebSocket server).
package main

import (
	"bufio"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

var (
	port    string
	name    string
	cert    string
	key     string
	caCert  string
	verbose bool
)

func init() {
	flag.StringVar(&port, "port", getEnv("WHOAMI_PORT_NUMBER", "80"), "give me a port number")
	flag.StringVar(&name, "name", os.Getenv("WHOAMI_NAME"), "give me a name")
	flag.StringVar(&cert, "cert", "", "give me a certificate")
	flag.StringVar(&key, "key", "", "give me a key")
	flag.StringVar(&caCert, "cacert", "", "give me a CA chain, enforces mutual TLS")
	flag.BoolVar(&verbose, "verbose", false, "enable verbose logging")
}

func getEnv(name, fallback string) string {
	if value, ok := os.LookupEnv(name); ok {
		return value
	}
	return fallback
}

type healthState struct {
	mu         sync.RWMutex
	statusCode int
}

var health = &healthState{statusCode: http.StatusOK}

func main() {
	flag.Parse()
	mux := http.NewServeMux()
	mux.HandleFunc("/data", dataHandler)
	mux.HandleFunc("/echo", echoHandler)
	mux.HandleFunc("/bench", benchHandler)
	mux.HandleFunc("/api", apiHandler)
	mux.HandleFunc("/health", healthHandler)
	mux.HandleFunc("/", whoamiHandler)

	var handler http.Handler = websocketsAnywhere(mux)
	if verbose {
		handler = logged(mux)
	}
	server := &http.Server{Addr: ":" + port, Handler: handler, ReadHeaderTimeout: 30 * time.Second}
	log.Printf("Starting up on port %s", port)
	if cert == "" || key == "" {
		log.Fatal(server.ListenAndServe())
	}
	if caCert != "" {
		pool := x509.NewCertPool()
		pem, err := os.ReadFile(caCert)
		if err != nil {
			log.Fatal(err)
		}
		pool.AppendCertsFromPEM(pem)
		server.TLSConfig = &tls.Config{ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert}
	}
	log.Fatal(server.ListenAndServeTLS(cert, key))
}

// websocketsAnywhere answers a WebSocket upgrade on any path with the echo, where
// upstream whoami does so on /echo only: the stand-in serves apps routed under a
// prefix (/api), whose real services take WebSockets under their own paths.
func websocketsAnywhere(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if headerHas(r.Header, "Upgrade", "websocket") {
			echoHandler(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func logged(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.Printf("%s %s %s", r.RemoteAddr, r.Method, r.URL)
		next.ServeHTTP(w, r)
	})
}

func hostname() string {
	host, _ := os.Hostname()
	return host
}

// addresses lists the IPs of every interface, as upstream prints them.
func addresses() []string {
	var ips []string
	interfaces, _ := net.Interfaces()
	for _, iface := range interfaces {
		addrs, err := iface.Addrs()
		if err != nil {
			continue
		}
		for _, addr := range addrs {
			switch v := addr.(type) {
			case *net.IPNet:
				ips = append(ips, v.IP.String())
			case *net.IPAddr:
				ips = append(ips, v.IP.String())
			}
		}
	}
	return ips
}

func waitFor(r *http.Request) {
	if wait := r.URL.Query().Get("wait"); wait != "" {
		if d, err := time.ParseDuration(wait); err == nil {
			time.Sleep(d)
		}
	}
}

func whoamiHandler(w http.ResponseWriter, r *http.Request) {
	waitFor(r)
	if name != "" {
		fmt.Fprintln(w, "Name:", name)
	}
	fmt.Fprintln(w, "Hostname:", hostname())
	for _, ip := range addresses() {
		fmt.Fprintln(w, "IP:", ip)
	}
	fmt.Fprintln(w, "RemoteAddr:", r.RemoteAddr)
	if err := r.Write(w); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if ok, _ := strconv.ParseBool(r.URL.Query().Get("env")); ok {
		for _, variable := range os.Environ() {
			fmt.Fprintln(w, variable)
		}
	}
}

type apiData struct {
	Hostname    string            `json:"hostname,omitempty"`
	IP          []string          `json:"ip,omitempty"`
	Headers     http.Header       `json:"headers,omitempty"`
	URL         string            `json:"url,omitempty"`
	Host        string            `json:"host,omitempty"`
	Method      string            `json:"method,omitempty"`
	Name        string            `json:"name,omitempty"`
	RemoteAddr  string            `json:"remoteAddr,omitempty"`
	Environment map[string]string `json:"environment,omitempty"`
}

func apiHandler(w http.ResponseWriter, r *http.Request) {
	data := apiData{
		Hostname:   hostname(),
		IP:         addresses(),
		Headers:    r.Header,
		URL:        r.URL.RequestURI(),
		Host:       r.Host,
		Method:     r.Method,
		Name:       name,
		RemoteAddr: r.RemoteAddr,
	}
	if ok, _ := strconv.ParseBool(r.URL.Query().Get("env")); ok {
		data.Environment = map[string]string{}
		for _, variable := range os.Environ() {
			k, v, _ := strings.Cut(variable, "=")
			data.Environment[k] = v
		}
	}
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(data); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

func healthHandler(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		var code int
		if err := json.NewDecoder(r.Body).Decode(&code); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		log.Printf("Update health check status code [%d]", code)
		health.mu.Lock()
		health.statusCode = code
		health.mu.Unlock()
		return
	}
	health.mu.RLock()
	code := health.statusCode
	health.mu.RUnlock()
	w.WriteHeader(code)
}

func benchHandler(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Connection", "keep-alive")
	w.Header().Set("Content-Type", "text/plain")
	fmt.Fprint(w, "1")
}

// dataHandler answers `size` units (`unit`: B, KB, MB, GB; default 1 B) of
// filler, as a download when `attachment` is true.
func dataHandler(w http.ResponseWriter, r *http.Request) {
	query := r.URL.Query()
	size, err := strconv.ParseInt(query.Get("size"), 10, 64)
	if err != nil || size < 0 {
		size = 1
	}
	units := map[string]int64{"": 1, "B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30}
	unit, ok := units[strings.ToUpper(query.Get("unit"))]
	if !ok {
		unit = 1
	}
	total := size * unit
	if attachment, _ := strconv.ParseBool(query.Get("attachment")); attachment {
		w.Header().Set("Content-Disposition", "attachment; filename=data.txt")
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Content-Length", strconv.FormatInt(total, 10))
	line := []byte(strings.Repeat("-", 1023) + "\n")
	for total > 0 {
		n := int64(len(line))
		if total < n {
			n = total
		}
		if _, err := w.Write(line[:n]); err != nil {
			return
		}
		total -= n
	}
}

// -- WebSocket echo (RFC 6455) ------------------------------------------------------

const (
	wsGUID          = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
	opContinuation  = 0x0
	opText          = 0x1
	opBinary        = 0x2
	opClose         = 0x8
	opPing          = 0x9
	opPong          = 0xA
	maxMessageBytes = 16 << 20
)

func headerHas(h http.Header, key, token string) bool {
	for _, value := range h.Values(key) {
		for _, part := range strings.Split(value, ",") {
			if strings.EqualFold(strings.TrimSpace(part), token) {
				return true
			}
		}
	}
	return false
}

func acceptKey(key string) string {
	sum := sha1.Sum([]byte(key + wsGUID))
	return base64.StdEncoding.EncodeToString(sum[:])
}

func echoHandler(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("Sec-WebSocket-Key")
	if r.Method != http.MethodGet || !headerHas(r.Header, "Connection", "upgrade") ||
		!headerHas(r.Header, "Upgrade", "websocket") || key == "" {
		http.Error(w, "websocket: the client is not using the websocket protocol", http.StatusBadRequest)
		return
	}
	if r.Header.Get("Sec-WebSocket-Version") != "13" {
		w.Header().Set("Sec-WebSocket-Version", "13")
		http.Error(w, "websocket: unsupported version", http.StatusUpgradeRequired)
		return
	}
	hijacker, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "websocket: connection cannot be taken over", http.StatusInternalServerError)
		return
	}
	conn, rw, err := hijacker.Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Time{})
	fmt.Fprintf(rw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Accept: %s\r\n\r\n", acceptKey(key))
	if err := rw.Flush(); err != nil {
		return
	}
	if err := echo(rw); err != nil && !errors.Is(err, io.EOF) && verbose {
		log.Printf("websocket: %v", err)
	}
}

type frame struct {
	fin     bool
	opcode  byte
	payload []byte
}

func readFrame(r *bufio.Reader) (frame, error) {
	var head [2]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return frame{}, err
	}
	f := frame{fin: head[0]&0x80 != 0, opcode: head[0] & 0x0F}
	if head[0]&0x70 != 0 {
		return f, errors.New("reserved bits set")
	}
	if head[1]&0x80 == 0 {
		return f, errors.New("client frame not masked")
	}
	length := uint64(head[1] & 0x7F)
	switch length {
	case 126:
		var ext [2]byte
		if _, err := io.ReadFull(r, ext[:]); err != nil {
			return f, err
		}
		length = uint64(binary.BigEndian.Uint16(ext[:]))
	case 127:
		var ext [8]byte
		if _, err := io.ReadFull(r, ext[:]); err != nil {
			return f, err
		}
		length = binary.BigEndian.Uint64(ext[:])
	}
	if length > maxMessageBytes {
		return f, errors.New("frame too large")
	}
	var mask [4]byte
	if _, err := io.ReadFull(r, mask[:]); err != nil {
		return f, err
	}
	f.payload = make([]byte, length)
	if _, err := io.ReadFull(r, f.payload); err != nil {
		return f, err
	}
	for i := range f.payload {
		f.payload[i] ^= mask[i%4]
	}
	return f, nil
}

// writeFrame writes one unmasked, final frame: a server never masks (RFC 6455 5.1).
func writeFrame(w *bufio.Writer, opcode byte, payload []byte) error {
	header := []byte{0x80 | opcode}
	switch n := len(payload); {
	case n < 126:
		header = append(header, byte(n))
	case n <= 0xFFFF:
		header = append(header, 126, byte(n>>8), byte(n))
	default:
		header = append(header, 127)
		header = binary.BigEndian.AppendUint64(header, uint64(n))
	}
	if _, err := w.Write(header); err != nil {
		return err
	}
	if _, err := w.Write(payload); err != nil {
		return err
	}
	return w.Flush()
}

func closeWith(w *bufio.Writer, code uint16) error {
	return writeFrame(w, opClose, binary.BigEndian.AppendUint16(nil, code))
}

// echo sends every text or binary message back as it came, reassembling
// fragmented ones, answers pings, and returns the close frame it is sent.
func echo(rw *bufio.ReadWriter) error {
	var message []byte
	var messageType byte
	for {
		f, err := readFrame(rw.Reader)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				_ = closeWith(rw.Writer, 1002)
			}
			return err
		}
		switch f.opcode {
		case opPing:
			if err := writeFrame(rw.Writer, opPong, f.payload); err != nil {
				return err
			}
		case opPong:
		case opClose:
			_ = writeFrame(rw.Writer, opClose, f.payload)
			return nil
		case opText, opBinary:
			if messageType != 0 {
				return closeWith(rw.Writer, 1002)
			}
			messageType, message = f.opcode, f.payload
		case opContinuation:
			if messageType == 0 {
				return closeWith(rw.Writer, 1002)
			}
			message = append(message, f.payload...)
			if len(message) > maxMessageBytes {
				return closeWith(rw.Writer, 1009)
			}
		default:
			return closeWith(rw.Writer, 1002)
		}
		if f.fin && messageType != 0 && f.opcode <= opBinary {
			if verbose {
				log.Printf("websocket message: %q", message)
			}
			if err := writeFrame(rw.Writer, messageType, message); err != nil {
				return err
			}
			messageType, message = 0, nil
		}
	}
}
