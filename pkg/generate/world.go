package generate

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"
)

// tag says what a principal is, so a scenario can pick who acts in it.
type tag uint16

const (
	human      tag = 1 << iota // an IAM user who is a person
	admin                      // may change IAM, networks, buckets and trails
	automation                 // infrastructure as code, CI, workloads
	restricted                 // lacks most permissions: the source of access-denied bursts
	sso                        // an IAM Identity Center session of a person
	root                       // the account's root user
	awsService                 // an AWS service calling on its own behalf (AWSService)
	linked                     // a service-linked role session (invokedBy)
	hidden                     // the unknown name of a failed sign-in
	withMFA                    // a person who signs in with MFA
	noMFA                      // a person who signs in without MFA
	occasional                 // one of the two people who work in the account least

	anyone = human | admin | automation | restricted | sso
)

// principal is one identity that makes calls.
type principal struct {
	tags      tag
	weight    int    // relative activity
	kind      string // userIdentity.type: IAMUser, AssumedRole, Root, AWSService
	name      string // user or role name; the service's host for AWSService
	session   string // role session name
	id        string // AIDA… or AROA… unique ID
	key       string // long-term access key of an IAM user
	mfa       bool
	invokedBy string   // service that acts through a service-linked role
	target    string   // role an AWSService principal assumes
	ips       []string // where it calls from; empty: the scene region's cloud addresses
	cli       []string // user agents of its CLI or SDK calls
	console   bool     // it uses the AWS console
	// busy is when the rare scenario it plays ends, and an hour more (busyAfter): until
	// then, it plays no other scenario, so that its incident or near miss is its own.
	busy time.Time
	// planned is when the last of the scenes it plays ends.
	planned time.Time
	// tripDay (the day's number plus one) and tripIP cache trip: where it works from that day.
	tripDay int64
	tripIP  string
}

// account is one AWS account and what stands in it before the run.
type account struct {
	id         string
	env        string
	regions    []string // the first one is its home region
	principals []*principal
	canonical  string // S3 canonical user ID
	org        string // the ID of the organization all accounts belong to
	office     string // the company's office address
	users      []string
	roles      []string
	roleIDs    map[string]string
	groups     []string
	buckets    []string
	vpcs       map[string][2]string // region: VPC and subnet IDs
	keys       map[string]string    // region: KMS key ID
}

// country is a country and public address ranges of its large access networks (/16
// prefixes), so geolocation of the generated addresses gives the country.
type country struct {
	code   string
	weight int
	nets   []string
}

var homes = []country{
	{"US", 40, []string{"73.162", "98.207", "24.5", "108.49"}}, // Comcast, Verizon
	{"DE", 10, []string{"79.215", "91.64"}},                    // Deutsche Telekom, Vodafone
	{"GB", 10, []string{"86.150", "92.40"}},                    // BT, Three
	{"IN", 9, []string{"49.36", "122.161"}},                    // Jio, Airtel
	{"CA", 7, []string{"174.88", "99.228"}},                    // Bell, Rogers
	{"FR", 6, []string{"92.184", "86.246"}},                    // Orange
	{"JP", 6, []string{"153.156", "126.74"}},                   // NTT, SoftBank
	{"BR", 6, []string{"189.6", "179.222"}},                    // Oi, Claro
	{"AU", 5, []string{"1.144", "1.152"}},                      // Telstra
}

// hostile are networks sign-in attacks come from.
var hostile = []country{
	{"RU", 1, []string{"95.25", "178.176"}},
	{"CN", 1, []string{"36.110", "123.112"}},
	{"VN", 1, []string{"113.161"}},
	{"NG", 1, []string{"105.112"}},
}

// regions are the regions accounts work in, with EC2 public address ranges of each.
var regions = map[string][]string{
	"us-east-1":      {"3.85", "54.160", "44.192"},
	"us-west-2":      {"34.208", "44.230"},
	"eu-west-1":      {"34.240", "52.16"},
	"eu-central-1":   {"3.120", "18.184"},
	"ap-southeast-2": {"3.24", "13.210"},
}

var regionNames = []string{"us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2"}

// ciNets are addresses of hosted CI runners.
var ciNets = []string{"20.57", "20.85", "52.176"}

var people = []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan",
	"judy", "mallory", "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "wendy"}

// adminUsers are the people who administer every account: the admin list of the generated
// data (AdminUsers).
var adminUsers = []string{"alice", "carol", "erin"}

// AdminUsers returns the administrative users of the generated accounts, the list the
// console's administrator panels follow (upload it: curl -T admin_users.csv
// <console>/api/admin-users). They are IAM users in every account; the other people, the
// Identity Center sessions and the automation are not on it.
func AdminUsers() []string { return slices.Clone(adminUsers) }

var envs = []string{"prod", "dev", "staging", "sandbox", "shared", "security"}

var (
	browsers = []string{
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.0.0 Safari/537.36",
		"Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.0.0",
	}
	cliAgents = []string{
		"aws-cli/2.15.30 md/awscrt#0.19.19 ua/2.0 os/macos#23.4.0 md/arch#arm64 lang/python#3.11.8 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/prompt#off",
		"aws-cli/2.13.25 Python/3.11.5 Linux/6.5.0-1014-aws exe/x86_64.ubuntu.22 prompt/off",
		"Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#6.5.0-27-generic md/arch#x86_64 lang/python#3.11.6 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.69",
	}
	terraformAgent = "APN/1.0 HashiCorp/1.0 Terraform/1.7.5 (+https://www.terraform.io) terraform-provider-aws/5.42.0 aws-sdk-go-v2/1.26.0 os/linux lang/go#1.22.1 md/GOOS#linux md/GOARCH#amd64"
	ciAgent        = "aws-sdk-js/3.554.0 ua/2.0 os/linux#6.5.0-1018-azure lang/js md/nodejs#20.12.1 api/sts#3.554.0 configure-aws-credentials-for-github-actions"
	lambdaAgent    = "Boto3/1.34.42 md/Botocore#1.34.42 ua/2.0 os/linux#5.10.213-224.810.amzn2.x86_64 md/arch#x86_64 lang/python#3.12.2 md/pyimpl#CPython exec-env/AWS_Lambda_python3.12 cfg/retry-mode#legacy Botocore/1.34.42"
	appAgent       = "aws-sdk-go-v2/1.26.0 os/linux lang/go#1.22.1 md/GOOS#linux md/GOARCH#amd64 api/s3#1.53.0"
	consoleAgent   = "AWS Internal"
)

// standingRoles are the roles every account has; AWSService principals assume them.
var standingRoles = []string{"OrganizationAccountAccessRole", "ci-deploy", "app-server", "etl-exec", "ecs-task-api"}

// newAccount builds account number i: its people, roles, sessions, services and resources.
func newAccount(r *rand.Rand, i int) *account {
	a := &account{
		id:        strconv.Itoa(100000000000 + r.IntN(899999999999)),
		env:       envs[i%len(envs)],
		canonical: hexString(r, 64),
		roleIDs:   map[string]string{},
		vpcs:      map[string][2]string{},
		keys:      map[string]string{},
		groups:    []string{"admins", "developers", "readonly"},
	}
	if i >= len(envs) {
		a.env += strconv.Itoa(i / len(envs))
	}
	order := r.Perm(len(regionNames))
	for _, j := range order[:1+r.IntN(3)] {
		a.regions = append(a.regions, regionNames[j])
	}
	for _, reg := range regionNames {
		a.vpcs[reg] = [2]string{"vpc-" + hexString(r, 17), "subnet-" + hexString(r, 17)}
		a.keys[reg] = uuid(r)
	}
	a.office = randomIP(r, homes[0].nets)
	for _, p := range []string{"logs", "assets", "backups", "exports", "terraform-state"} {
		a.buckets = append(a.buckets, fmt.Sprintf("acme-%s-%s-%s", a.env, p, a.id[8:]))
	}
	for _, n := range standingRoles {
		a.roles = append(a.roles, n)
		a.roleIDs[n] = "AROA" + base32String(r, 17)
	}

	// People: the administrators, then others; a Zipf-like activity spread, so a few users
	// dominate the top-10 charts.
	names := append([]string(nil), adminUsers...)
	r.Shuffle(len(names), func(x, y int) { names[x], names[y] = names[y], names[x] })
	others := slices.DeleteFunc(slices.Clone(people), func(n string) bool { return slices.Contains(adminUsers, n) })
	r.Shuffle(len(others), func(x, y int) { others[x], others[y] = others[y], others[x] })
	names = append(names, others[:5+r.IntN(5)]...)
	var admins, humans []*principal
	for rank, n := range names {
		c := pickCountry(r, homes)
		p := &principal{tags: human, weight: 120 / (rank + 1), kind: "IAMUser", name: n,
			id: "AIDA" + base32String(r, 17), key: "AKIA" + base32String(r, 16),
			mfa: r.IntN(10) < 7, ips: []string{randomIP(r, c.nets)}, cli: cliAgents, console: true}
		if r.IntN(3) == 0 {
			p.ips = append(p.ips, randomIP(r, c.nets))
		}
		switch {
		case rank < len(adminUsers):
			p.tags |= admin
			p.mfa = true
			admins = append(admins, p)
		case rank >= len(names)-2:
			p.tags |= restricted | occasional
			p.mfa = false
		}
		if p.mfa {
			p.tags |= withMFA
		} else {
			p.tags |= noMFA
		}
		a.users = append(a.users, n)
		humans = append(humans, p)
		a.add(p)
	}

	// Identity Center sessions of some of the people.
	ssoAdmin := "AWSReservedSSO_AdministratorAccess_" + hexString(r, 16)
	ssoRead := "AWSReservedSSO_ReadOnlyAccess_" + hexString(r, 16)
	for _, n := range []string{ssoAdmin, ssoRead} {
		a.roleIDs[n] = "AROA" + base32String(r, 17)
	}
	for k, n := range names[:4] {
		owner := humans[k]
		role, tags := ssoAdmin, sso|admin
		if k%2 == 1 {
			role, tags = ssoRead, sso|restricted
		}
		a.add(&principal{tags: tags, weight: 20, kind: "AssumedRole", name: role, session: n + "@example.com",
			id: a.roleIDs[role], ips: owner.ips, cli: cliAgents, console: true})
	}

	// Automation and workloads.
	a.add(&principal{tags: automation | admin, weight: 40, kind: "IAMUser", name: "terraform",
		id: "AIDA" + base32String(r, 17), key: "AKIA" + base32String(r, 16), ips: []string{a.office}, cli: []string{terraformAgent}})
	a.users = append(a.users, "terraform")
	a.add(&principal{tags: automation | admin, weight: 40, kind: "AssumedRole", name: "ci-deploy", session: "GitHubActions",
		id: a.roleIDs["ci-deploy"], ips: []string{randomIP(r, ciNets), randomIP(r, ciNets)}, cli: []string{ciAgent}})
	nat := regions[a.regions[0]] // the workload's NAT gateways in its home region
	a.add(&principal{tags: automation, weight: 60, kind: "AssumedRole", name: "app-server", session: "i-" + hexString(r, 17),
		id: a.roleIDs["app-server"], ips: []string{randomIP(r, nat), randomIP(r, nat)}, cli: []string{appAgent}})
	a.add(&principal{tags: automation, weight: 40, kind: "AssumedRole", name: "etl-exec", session: "etl-loader",
		id: a.roleIDs["etl-exec"], cli: []string{lambdaAgent}})

	// The root user, AWS services and the unknown user name of failed sign-ins.
	a.add(&principal{tags: root, weight: 1, kind: "Root", mfa: r.IntN(2) == 0, ips: admins[0].ips, console: true})
	for _, s := range [][2]string{{"lambda.amazonaws.com", "etl-exec"}, {"ec2.amazonaws.com", "app-server"},
		{"ecs-tasks.amazonaws.com", "ecs-task-api"}} {
		a.add(&principal{tags: awsService, weight: 10, kind: "AWSService", name: s[0], target: s[1]})
	}
	a.roleIDs["AWSServiceRoleForAutoScaling"] = "AROA" + base32String(r, 17)
	a.add(&principal{tags: linked, weight: 1, kind: "AssumedRole", name: "AWSServiceRoleForAutoScaling", session: "AutoScaling",
		id: a.roleIDs["AWSServiceRoleForAutoScaling"], invokedBy: "autoscaling.amazonaws.com"})
	a.add(&principal{tags: hidden, weight: 1, kind: "IAMUser", name: "HIDDEN_DUE_TO_SECURITY_REASONS",
		ips: []string{randomIP(r, pickCountry(r, homes).nets)}, console: true})
	return a
}

func (a *account) add(p *principal) { a.principals = append(a.principals, p) }

// pick returns a principal having any of the tags, weighted by activity.
func (a *account) pick(r *rand.Rand, tags tag) *principal {
	total := 0
	for _, p := range a.principals {
		if p.tags&tags != 0 {
			total += p.weight
		}
	}
	n := r.IntN(total)
	for _, p := range a.principals {
		if p.tags&tags != 0 {
			if n -= p.weight; n < 0 {
				return p
			}
		}
	}
	panic("generate: no principal with tags " + strconv.Itoa(int(tags)))
}

// pickOther returns a principal having any of the tags, weighted by activity, choosing
// first among those that are not in used (a crowd's or party's others), not busy at t and,
// for a rare scene (idle), in no scene within busyAfter of t; then among those not busy;
// for a crowd or party, then among those not in used; then among all.
func (a *account) pickOther(r *rand.Rand, tags tag, used map[*principal]bool, t time.Time, idle bool) *principal {
	free := func(p *principal) bool { return !used[p] && !p.busy.After(t) }
	var tiers []func(p *principal) bool
	if idle {
		tiers = append(tiers, func(p *principal) bool { return free(p) && !p.planned.Add(busyAfter).After(t) })
	}
	tiers = append(tiers, free)
	if used != nil {
		tiers = append(tiers, func(p *principal) bool { return !used[p] })
	}
	for _, ok := range tiers {
		total := 0
		for _, p := range a.principals {
			if p.tags&tags != 0 && ok(p) {
				total += p.weight
			}
		}
		if total == 0 {
			continue
		}
		n := r.IntN(total)
		for _, p := range a.principals {
			if p.tags&tags != 0 && ok(p) {
				if n -= p.weight; n < 0 {
					return p
				}
			}
		}
	}
	return a.pick(r, tags)
}

// idle reports whether a principal having any of the tags is in no scene within busyAfter
// of t.
func (a *account) idle(tags tag, t time.Time) bool {
	return slices.ContainsFunc(a.principals, func(p *principal) bool {
		return p.tags&tags != 0 && !p.busy.After(t) && !p.planned.Add(busyAfter).After(t)
	})
}

// region picks a region the account works in; most work happens in its home region.
func (a *account) region(r *rand.Rand) string {
	if len(a.regions) == 1 || r.IntN(10) < 6 {
		return a.regions[0]
	}
	return a.regions[1+r.IntN(len(a.regions)-1)]
}

func pickCountry(r *rand.Rand, cs []country) country {
	total := 0
	for _, c := range cs {
		total += c.weight
	}
	n := r.IntN(total)
	for _, c := range cs {
		if n -= c.weight; n < 0 {
			return c
		}
	}
	return cs[0]
}

// countryOf returns the country of an address made by randomIP from a country's networks;
// the first home country when it is none of them (a cloud address).
func countryOf(ip string) country {
	for _, cs := range [][]country{homes, hostile} {
		for _, c := range cs {
			for _, n := range c.nets {
				if strings.HasPrefix(ip, n+".") {
					return c
				}
			}
		}
	}
	return homes[0]
}

func randomIP(r *rand.Rand, nets []string) string {
	return fmt.Sprintf("%s.%d.%d", nets[r.IntN(len(nets))], r.IntN(254)+1, r.IntN(254)+1)
}

func pick(r *rand.Rand, xs []string) string { return xs[r.IntN(len(xs))] }

const (
	hexDigits  = "0123456789abcdef"
	base32     = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	alphaNum   = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	lowerAlnum = "abcdefghijklmnopqrstuvwxyz0123456789"
	upperHex   = "0123456789ABCDEF"
	base64Ish  = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	digitChars = "0123456789"
)

func randomString(r *rand.Rand, alphabet string, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return string(b)
}

func hexString(r *rand.Rand, n int) string    { return randomString(r, hexDigits, n) }
func base32String(r *rand.Rand, n int) string { return randomString(r, base32, n) }

// uuid returns a random (version 4) UUID.
func uuid(r *rand.Rand) string {
	hi, lo := r.Uint64(), r.Uint64()
	hi = hi&^0xf000 | 0x4000
	lo = lo&^(0xc<<60) | 0x8<<60
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", hi>>32, hi>>16&0xffff, hi&0xffff, lo>>48, lo&0xffffffffffff)
}
