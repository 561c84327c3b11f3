package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat: 100 on every Linux
// architecture Go supports (the kernel fixes it for user space regardless of CONFIG_HZ).
const clockTicks = 100

// cpuTime is a process's CPU time so far.
type cpuTime struct{ User, System time.Duration }

// Total is user plus system time.
func (t cpuTime) Total() time.Duration { return t.User + t.System }

// Sub returns the CPU time used between u and t.
func (t cpuTime) Sub(u cpuTime) cpuTime { return cpuTime{t.User - u.User, t.System - u.System} }

// processCPU returns the CPU time (all threads, including exited ones) that process pid has used so far,
// from /proc/<pid>/stat. Its resolution is 10 ms, so measure phases of at least a few seconds of CPU.
func processCPU(pid int) (cpuTime, error) {
	_, t, err := readStat(pid)
	return t, err
}

// treeCPU returns the CPU time so far of every process in the trees rooted at roots (the roots and all
// their descendants, e.g. a PostgreSQL postmaster and its backends), by pid.
func treeCPU(roots []int) (map[int]cpuTime, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("process CPU: %w", err)
	}
	children := map[int][]int{}
	times := map[int]cpuTime{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		ppid, t, err := readStat(pid)
		if err != nil {
			continue // exited meanwhile
		}
		children[ppid] = append(children[ppid], pid)
		times[pid] = t
	}
	out := map[int]cpuTime{}
	queue := append([]int(nil), roots...)
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		t, ok := times[pid]
		if !ok {
			continue
		}
		if _, seen := out[pid]; seen {
			continue
		}
		out[pid] = t
		queue = append(queue, children[pid]...)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("process CPU: none of the processes %v exists", roots)
	}
	return out, nil
}

// treeCPUUsed is the CPU time the processes of after used since before; a process absent from before
// (started in between) counts in full.
func treeCPUUsed(before, after map[int]cpuTime) cpuTime {
	var used cpuTime
	for pid, t := range after {
		d := t.Sub(before[pid])
		used.User += d.User
		used.System += d.System
	}
	return used
}

// readStat reads the parent pid and the CPU time of process pid from /proc/<pid>/stat.
func readStat(pid int) (ppid int, t cpuTime, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, cpuTime{}, fmt.Errorf("process CPU: %w", err)
	}
	// The command name (field 2) is in parentheses and may contain spaces: fields are counted after the
	// last ')'. There, index 0 is field 3 (state), so ppid (field 4) is index 1, utime (field 14) index 11
	// and stime index 12.
	s := string(data)
	end := strings.LastIndexByte(s, ')')
	if end < 0 {
		return 0, cpuTime{}, fmt.Errorf("process CPU: unexpected /proc/%d/stat", pid)
	}
	f := strings.Fields(s[end+1:])
	if len(f) < 13 {
		return 0, cpuTime{}, fmt.Errorf("process CPU: short /proc/%d/stat", pid)
	}
	var n [3]int64
	for k, field := range []string{f[1], f[11], f[12]} {
		if n[k], err = strconv.ParseInt(field, 10, 64); err != nil {
			return 0, cpuTime{}, fmt.Errorf("process CPU: parse /proc/%d/stat: %w", pid, err)
		}
	}
	return int(n[0]), cpuTime{User: time.Duration(n[1]) * time.Second / clockTicks, System: time.Duration(n[2]) * time.Second / clockTicks}, nil
}
