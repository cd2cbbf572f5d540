package main

import (
	"bufio"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// cpuUse splits the machine's CPU during one run, in percent of all cores
// (100 = every core busy for the whole run).
type cpuUse struct {
	LoadGen  float64 `json:"load_generator_pct"` // the bench process (also the floor's pgx work)
	Server   float64 `json:"server_pct"`         // the API or reference server process
	Postgres float64 `json:"postgres_pct"`       // every postgres process (other users of the server included)
	Other    float64 `json:"other_pct"`          // the rest of the machine, idle excluded
}

type cpuSnap struct {
	at                     time.Time
	self, server, pg, busy float64 // seconds
}

const clockTick = 100.0 // USER_HZ on Linux

// procCPU returns utime+stime of pid in seconds (0 when unreadable).
func procCPU(pid string) float64 {
	b, err := os.ReadFile(filepath.Join("/proc", pid, "stat"))
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+2:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	k, _ := strconv.ParseFloat(f[12], 64)
	return (u + k) / clockTick
}

func postgresCPU() float64 {
	ents, _ := os.ReadDir("/proc")
	var sum float64
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		comm, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		if err != nil || !strings.HasPrefix(string(comm), "postgres") {
			continue
		}
		sum += procCPU(e.Name())
	}
	return sum
}

// machineBusy returns the non-idle CPU seconds of the whole machine.
func machineBusy() float64 {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return 0
	}
	fs := strings.Fields(sc.Text())[1:]
	var busy float64
	for i, v := range fs {
		n, _ := strconv.ParseFloat(v, 64)
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		if i >= 8 { // guest time is already in user
			break
		}
		busy += n
	}
	return busy / clockTick
}

func snapCPU(serverPID int) cpuSnap {
	s := cpuSnap{at: time.Now(), self: procCPU("self"), pg: postgresCPU(), busy: machineBusy()}
	if serverPID > 0 {
		s.server = procCPU(strconv.Itoa(serverPID))
	}
	return s
}

func (a cpuSnap) until(b cpuSnap) cpuUse {
	capacity := b.at.Sub(a.at).Seconds() * float64(runtime.NumCPU())
	pct := func(x float64) float64 { return 100 * x / capacity }
	u := cpuUse{LoadGen: pct(b.self - a.self), Server: pct(b.server - a.server), Postgres: pct(b.pg - a.pg)}
	u.Other = max(0, pct(b.busy-a.busy)-u.LoadGen-u.Server-u.Postgres)
	return u
}

// peakRSS returns VmHWM (peak resident set) of pid in MiB.
func peakRSS(pid int) float64 {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}
