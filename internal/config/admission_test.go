package config

import (
	"errors"
	"testing"
)

func TestAdmissionSettings(t *testing.T) {
	inTempDir(t)
	cfg, err := Load(Options{Getenv: envFunc(map[string]string{"DATABASE_MAX_CONNS": "7"})})
	if err != nil {
		t.Fatal(err)
	}
	if lo, hi := cfg.Admission.Limits(cfg.Database.MaxConns); lo != 7 || hi != 14 {
		t.Fatalf("limits %d..%d, want 7..14 from DATABASE_MAX_CONNS", lo, hi)
	}
	if a := cfg.Admission; !a.Enabled || a.MaxQueue != 128 || a.QueueTimeout.String() != "20ms" || a.LatencyTolerance != 1.5 || len(a.TenantWeights) != 0 {
		t.Fatalf("defaults %+v: want enabled, limits 7..14 from DATABASE_MAX_CONNS, queue 128 / 20ms, tolerance 1.5", a)
	}
	cfg, err = Load(Options{Getenv: envFunc(map[string]string{
		"ADMISSION_MIN_LIMIT": "3", "ADMISSION_MAX_LIMIT": "3", "ADMISSION_MAX_QUEUE": "0",
		"ADMISSION_TENANT_WEIGHTS": "6F1C3A52-5F0E-4C55-9A52-2B0B8D1F0C11=2, 00000000-0000-0000-0000-000000000001=0.5",
	})})
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.Admission
	if a.MinLimit != 3 || a.MaxLimit != 3 || a.MaxQueue != 0 ||
		a.TenantWeights["6f1c3a52-5f0e-4c55-9a52-2b0b8d1f0c11"] != 2 || a.TenantWeights["00000000-0000-0000-0000-000000000001"] != 0.5 {
		t.Fatalf("explicit settings %+v", a)
	}

	for _, c := range []struct {
		name    string
		env     map[string]string
		setting string
	}{
		{"min above max", map[string]string{"ADMISSION_MIN_LIMIT": "30", "ADMISSION_MAX_LIMIT": "20"}, "ADMISSION_MIN_LIMIT"},
		{"negative limit", map[string]string{"ADMISSION_MAX_LIMIT": "-1"}, "ADMISSION_MAX_LIMIT"},
		{"tolerance below 1", map[string]string{"ADMISSION_LATENCY_TOLERANCE": "0.5"}, "ADMISSION_LATENCY_TOLERANCE"},
		{"zero queue timeout", map[string]string{"ADMISSION_QUEUE_TIMEOUT": "0s"}, "ADMISSION_QUEUE_TIMEOUT"},
		{"weight without tenant", map[string]string{"ADMISSION_TENANT_WEIGHTS": "=2"}, "ADMISSION_TENANT_WEIGHTS"},
		{"non-canonical tenant", map[string]string{"ADMISSION_TENANT_WEIGHTS": "6f1c3a525f0e4c559a522b0b8d1f0c11=2"}, "ADMISSION_TENANT_WEIGHTS"},
		{"zero weight", map[string]string{"ADMISSION_TENANT_WEIGHTS": "6f1c3a52-5f0e-4c55-9a52-2b0b8d1f0c11=0"}, "ADMISSION_TENANT_WEIGHTS"},
		{"not a bool", map[string]string{"ADMISSION_ENABLED": "maybe"}, "ADMISSION_ENABLED"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(Options{Getenv: envFunc(c.env)})
			var se *SettingError
			if !errors.As(err, &se) || se.Setting != c.setting {
				t.Fatalf("error %v, want one naming %s", err, c.setting)
			}
		})
	}
}
