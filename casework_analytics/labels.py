"""Every word the package shows people, in English and Indonesian: one catalogue.

Plots, the dashboard, the report and the command line's progress lines all
take their text from :data:`CATALOGUE` through :func:`text`, so a label
never drifts between places and a missing translation fails loudly.
Placeholders in braces are filled with :meth:`str.format`.
"""

from __future__ import annotations

from .errors import CaseworkError

__all__ = [
    "LANGUAGES",
    "CATALOGUE",
    "catalogue",
    "text",
]

LANGUAGES = ("en", "id")

CATALOGUE: dict[str, dict[str, str]] = {
    "en": {
        "title": "Cohort dashboard",
        "subtitle": "{source} · observed up to {as_of}",
        "grouped_by": "grouped by {by}",
        "internal_banner": "Internal, not for distribution",
        "published_banner": (
            "Published report: counts from 1 to {small} are hidden, and so are numbers "
            "that would let anyone work them out."
        ),
        "how_to_read": "How to read this report",
        "how_to_read_text": (
            "Each card shows a share with its 95% interval: the range that, with 95% "
            "confidence, holds the true value for this cohort; short intervals come from "
            "many cases, long ones from few. Under each card: what was counted and out of "
            "what. Time is counted from intake (the case's opening) and stops on {as_of}; "
            "cases still open then are not counted as dropouts. Weekly urine screens that "
            "were missed or not recorded count as positive (the conservative convention); "
            "the other convention's value is given beside each recovery number. Charts "
            "compare groups against funnel limits rather than ranking them: a group outside "
            "the limits differs by more than chance. A hatched bar or “{marker}” is a "
            "number hidden to protect clients; “≈” marks a number rounded to 5."
        ),
        "headline": "Headline",
        "cases_card": "Cases",
        "placements_card": "Placements",
        "sites_card": "Sites",
        "completion_card": "Planned completion",
        "retention_card": "{days}-day retention",
        "sustained_card": "Sustained abstinence",
        "not_relapsed_card": "Not relapsed (BNN)",
        "cases_def": "Cases with intake on or before {as_of}.",
        "placements_def": "Student placements with at least one such case.",
        "sites_def": "Agency sites with at least one such case.",
        "completion_def": (
            "Closed cases that ended as planned (goals met, or the agreed service period "
            "ended). Cases still open are left out, never counted as dropouts."
        ),
        "retention_def": (
            "Cases admitted at least {days} days before {as_of} that still attended "
            "monitoring on day {days} or later without dropping out first (or completed "
            "monitoring as planned). Dropout: {missed} missed visits in a row, or "
            "{gap} days without an attended visit while due."
        ),
        "sustained_def": "Monitored clients with {weeks} negative weekly screens in a row.",
        "not_relapsed_def": (
            "Of the clients who reached sustained abstinence at least {days} days before "
            "{as_of}, those with no relapse in the {days} days after. BNN's "
            "post-rehabilitation indicator (target: at least 50%)."
        ),
        "count_of": "{num} of {den}",
        "interval": "95% interval {low} to {high}",
        "no_interval": "too few cases for an interval",
        "convention_note": "Missed screens ignored instead: {other}.",
        "hidden_value": "hidden",
        "no_value": "not available",
        "funnel_section": "How far cases get",
        "funnel_note": (
            "Bars: the share of all cases in the group that reached each stage (a case that "
            "skipped a stage counts as having passed it). The arrow beside a bar gives the "
            "share of the previous stage's cases that got this far."
        ),
        "of_previous": "→ {share}",
        "exits_section": "Why cases end",
        "exits_note": (
            "Reasons for closure of every closed case, coloured by exit type; then the exit "
            "types of each group, as shares of its closed cases."
        ),
        "reasons_title": "Reasons for closure (whole cohort)",
        "types_title": "Exit types by group",
        "share_of_closed": "Share of closed cases",
        "comparisons_section": "Fair comparisons between groups",
        "comparisons_note": (
            "Each point is a group: its rate against its number of cases. Inside the funnel "
            "(95% and 99.8% limits around the whole cohort's rate) differences are what "
            "chance gives at that size; only groups outside the 99.8% limits differ clearly."
        ),
        "outside_limits": "Outside the 99.8% limits: {groups}.",
        "none_outside": "No group is outside the 99.8% limits.",
        "trends_section": "Trends over terms",
        "trends_note": "Each term's rate with its 95% interval; the test asks whether it moves steadily.",
        "curves_section": "Staying in monitoring and staying abstinent",
        "curves_note": (
            "Left: the share still in monitoring (no dropout) by days since intake. Right: "
            "among clients who reached sustained abstinence, the share not relapsed by days "
            "since abstinence began. Shaded: 95% intervals. Below: clients still followed."
        ),
        "curves_published_note": (
            "Published curves show every {step} days, with the number followed rounded to 5, "
            "and stop before fewer than {threshold} clients remain."
        ),
        "competing_section": "Competing exits over time",
        "competing_note": (
            "The share of cases that had ended by each day since intake, by exit type; the "
            "rest were still open. Shares of competing exits add up, unlike 1 minus "
            "separate survival curves."
        ),
        "placements_section": "Placements",
        "placements_note": "One row per student placement (pooled sessions for the missed rate).",
        "folded_note": (
            "{n} group(s) are shown together as “{other}”: those with fewer than "
            "{threshold} clients (a small group could identify its clients), and, where "
            "they add up to fewer than {threshold}, the smallest others with them."
        ),
        "small_cohort_banner": (
            "The cohort or its groups are small: published figures for groups this small are mostly "
            "hidden. For your own use, build the report with --internal; to publish, "
            "group more widely (for example --by term, or a whole program)."
        ),
        "supervision_section": "Supervisors' view",
        "stages_reached": "Cases that reached each stage",
        "closed_because": "Closed cases by reason",
        "none_closed": "none yet",
        "supervision_note": (
            "One section per placement. Needs attention: an active case with {missed} or more "
            "missed sessions in the last 4 weeks, a positive screen in the last 2 weeks, or "
            "no contact for more than {silence} days."
        ),
        "placement_index": "Placements",
        "needs_attention": "Needs attention",
        "nobody_needs_attention": "No active case needs attention.",
        "missed_sessions": "missed sessions",
        "recent_positive": "recent positive screen",
        "no_contact": "no contact",
        "missed_vs_site": "Missed-session rate {rate} (site: {site_rate}).",
        "quality_section": "Data quality",
        "quality_note": "Rows read, accepted and rejected per table, and the problems found.",
        "privacy_note": (
            "Privacy: counts from 1 to {small} are hidden, with other numbers where they "
            "would let a hidden one be worked out ({hidden} cells in all), checked by an "
            "audit of everything published together. Per-client charts are left out."
        ),
        "withheld": "Not published: {reason}",
        "all_small": "every count in it is below {small}",
        "withheld_sparse": (
            "most of its counts are below the threshold for groups this small; "
            "see it for larger groups, or in the internal report"
        ),
        "withheld_unprotectable": "no suppression could protect its small counts",
        "withheld_per_client": "per-client table, withheld from publication",
        "withheld_all_hidden": "every count in it would be hidden at this size",
        "withheld_no_curve": "no curve can be published at this size without a count below the threshold",
        "download": "Numbers behind this chart (CSV)",
        "download_table": "This table as a file (CSV)",
        "footer": "Made with casework_analytics {version} from {source}, observed up to {as_of}.",
        "all_group": "All",
        "other_group": "Other",
        "no_visits": "The source has no monitoring visits, so there is nothing to show here.",
        "no_sessions": "The source has no sessions table.",
        "at_risk_rounded": "Followed (≈, rounded to 5)",
        "progress": "[{step}/{total}] {what} ({seconds} s)",
        "cli_source": "Source: {source}  (stage model: {model})",
        "cli_counts": "table read accepted rejected",
        "cli_totals": "{errors} error(s), {warnings} warning(s).",
        "cli_problems_written": "Problem report written to {path}",
        "cli_auditing": "Auditing what would be published (linear programming) ...",
        "cli_publishing": (
            "Publishing: {folded} group(s) folded into 'Other' (those with fewer than "
            "{threshold} clients, and the smallest others until 'Other' has {threshold}); "
            "counts 1 to {largest} hidden; {withheld}."
        ),
        "cli_per_client_withheld": "per-client tables withheld",
        "cli_wrote": "  wrote {name} ({rows} rows)",
        "cli_skipped": "  skipped {name}: {reason}",
        "cli_tables_written": "Tables written to {path}",
        "cli_rejected_hint": (
            "Some rows were rejected; run `casework-analytics validate` for the full report."
        ),
        "written": "Report written to {path} ({seconds} s)",
        "setup": "setting up",
        "loading": "Loading the source ...",
        "hidden_groups": "Not drawn, every figure hidden at this size: {groups}.",
        "no_curve": "{what}: no curve can be published at this size without a count from 1 to {largest} between two of its days. Group more widely, or build an internal report.",
        "no_curve_data": "{what}: no data to draw a curve from.",
        "limits_hidden": "Not drawn, its control limits are hidden at this size: {metrics}.",
        "all_hidden": "Every figure of this section is hidden at this size. Group more widely to publish it, or build an internal report.",
        "footer_step": "closing notes",
        "parameters": "parameters",
        "col_placement_id": "Placement",
        "col_site": "Site",
        "col_term": "Term",
        "col_caseworker_id": "Caseworker",
        "col_n_cases": "Cases",
        "col_n_closed": "Closed",
        "col_n_planned": "Ended as planned",
        "col_completion": "Planned completion",
        "col_median_los_days": "Median length of stay (days)",
        "col_missed_rate": "Missed sessions",
        "col_table": "Table",
        "col_read": "Rows read",
        "col_accepted": "Accepted",
        "col_rejected": "Rejected",
        "col_rule": "Problem",
        "col_severity": "Severity",
        "col_n": "Number",
        "col_case_id": "Case",
        "col_days_since_contact": "Days since last contact",
        "col_missed_recently": "Missed sessions (4 weeks)",
        "col_reasons": "Why",
        "error": "error",
        "warning": "warning",
        "table_placements": "placements",
        "table_cases": "cases",
        "table_stages": "stages",
        "table_sessions": "sessions",
        "table_visits": "visits",
        "negative": "Negative",
        "positive": "Positive",
        "missed": "Missed",
        "no_result": "No result",
        "unrecorded": "Not recorded (lost to follow-up)",
        "not_scheduled": "Not scheduled",
        "planned": "Planned",
        "unplanned": "Unplanned",
        "administrative": "Administrative",
        "unknown": "Unknown",
        "cases": "Cases",
        "share": "Share of exits",
        "reached": "Cases that reached the stage",
        "conversion": "from previous",
        "days": "Days since intake",
        "weeks": "Weeks since intake",
        "survival": "Probability",
        "at_risk": "At risk",
        "cumulative": "Cumulative incidence",
        "dropout": "Still in monitoring (no dropout)",
        "first_positive": "No positive screen yet",
        "relapse": "Not relapsed (since sustained abstinence)",
        "sustained": "Not yet sustained abstinence",
        "client": "Client",
        "intake_month": "Intake month",
        "retained": "Share still attending",
        "exit": "Exit",
        "in_care": "still in care",
        "funnel": "Stage funnel",
        "exits": "Why cases end",
        "swimmer": "Client timelines",
        "heatmap": "Weekly monitoring",
        "triangle": "Retention by intake month",
        "showing": "showing {n} of {total} clients, {how}",
        "longest": "longest follow-up first",
        "empty": "Nothing to show (no data, or too few clients to publish)",
        "hidden": "Hidden (small numbers)",
        "sensitivity": "Missed screens counted as positive, or ignored",
        "planned_completion": "Planned completion (of closed cases)",
        "term": "Term",
        "trend_test": "trend over terms: Cochran–Armitage p = {p}",
        "missing_positive": "Counted as positive",
        "missing_ignore": "Ignored",
        "estimate": "Estimate",
        "retention": "90-day retention",
        "retention_km": "90-day retention (Kaplan–Meier)",
        "sustained_abstinence": "Sustained abstinence",
        "not_relapsed": "Not relapsed (of those abstinent)",
        "not_relapsed_km": "No relapse 90 days after abstinence (Kaplan–Meier)",
        "target": "Target",
        "limits": "{level} limits",
        "outside": "Outside {level} limits",
        "inside": "Within limits",
        "n_cases": "Cases (n)",
        "expected_count": "Expected count (E)",
        "proportion": "Proportion",
        "oe_ratio": "Observed / expected",
        "unadjusted": "Unadjusted proportions",
        "adjusted": "Adjusted for case mix (observed / expected)",
        "widened": "limits widened for overdispersion ({method}; φ = {phi}, p = {p})",
        "not_widened": "exact limits, not widened (φ = {phi}, p = {p})",
        "too_few_to_widen": (
            "exact limits: groups vary more than chance (φ = {phi}, p = {p}), but {n} "
            "groups are too few to widen the limits ({needed} needed)"
        ),
        "multiplicative": "multiplicative",
        "additive": "additive random effect",
        "hazard_ratio": "Hazard ratio",
        "odds_ratio": "Odds ratio",
        "log_scale": "log scale",
    },
    "id": {
        "title": "Dasbor kohort",
        "subtitle": "{source} · diamati sampai {as_of}",
        "grouped_by": "dikelompokkan menurut {by}",
        "internal_banner": "Internal, tidak untuk disebarkan",
        "published_banner": (
            "Laporan terbitan: jumlah 1 sampai {small} disembunyikan, begitu pula angka yang "
            "dapat dipakai untuk menghitungnya kembali."
        ),
        "how_to_read": "Cara membaca laporan ini",
        "how_to_read_text": (
            "Setiap kartu menampilkan proporsi dengan selang 95%: rentang yang, dengan "
            "keyakinan 95%, memuat nilai sebenarnya untuk kohort ini; selang pendek berasal "
            "dari banyak kasus, selang panjang dari sedikit kasus. Di bawah setiap kartu: apa "
            "yang dihitung dan dari berapa. Waktu dihitung sejak intake (pembukaan kasus) dan "
            "berhenti pada {as_of}; kasus yang masih terbuka tidak dihitung sebagai putus. "
            "Tes urine mingguan yang terlewat atau tidak tercatat dihitung positif (konvensi "
            "konservatif); nilai menurut konvensi lain tercantum di samping setiap angka "
            "pemulihan. Grafik membandingkan kelompok dengan batas corong, bukan dengan "
            "peringkat: kelompok di luar batas berbeda lebih dari sekadar kebetulan. Batang "
            "berarsir atau “{marker}” adalah angka yang disembunyikan untuk melindungi klien; "
            "“≈” menandai angka yang dibulatkan ke kelipatan 5."
        ),
        "headline": "Ringkasan",
        "cases_card": "Kasus",
        "placements_card": "Penempatan",
        "sites_card": "Lokasi",
        "completion_card": "Selesai terencana",
        "retention_card": "Retensi {days} hari",
        "sustained_card": "Pulih berkelanjutan",
        "not_relapsed_card": "Tidak kambuh (BNN)",
        "cases_def": "Kasus dengan intake pada atau sebelum {as_of}.",
        "placements_def": "Penempatan mahasiswa dengan sedikitnya satu kasus tersebut.",
        "sites_def": "Lokasi lembaga dengan sedikitnya satu kasus tersebut.",
        "completion_def": (
            "Kasus ditutup yang berakhir sesuai rencana (tujuan tercapai, atau masa layanan "
            "yang disepakati berakhir). Kasus yang masih terbuka tidak dihitung, tidak "
            "pernah dianggap putus."
        ),
        "retention_def": (
            "Kasus yang masuk sedikitnya {days} hari sebelum {as_of} dan masih hadir dalam "
            "pemantauan pada hari ke-{days} atau sesudahnya tanpa putus lebih dulu (atau "
            "menyelesaikan pemantauan sesuai rencana). Putus: {missed} kunjungan terlewat "
            "berturut-turut, atau {gap} hari tanpa kunjungan saat masih wajib hadir."
        ),
        "sustained_def": "Klien yang dipantau dengan {weeks} tes mingguan negatif berturut-turut.",
        "not_relapsed_def": (
            "Dari klien yang mencapai pulih berkelanjutan sedikitnya {days} hari sebelum "
            "{as_of}, yang tidak kambuh dalam {days} hari sesudahnya. Indikator "
            "pascarehabilitasi BNN (target: sedikitnya 50%)."
        ),
        "count_of": "{num} dari {den}",
        "interval": "selang 95% {low} sampai {high}",
        "no_interval": "kasus terlalu sedikit untuk selang",
        "convention_note": "Jika tes terlewat diabaikan: {other}.",
        "hidden_value": "disembunyikan",
        "no_value": "tidak tersedia",
        "funnel_section": "Sejauh mana kasus berjalan",
        "funnel_note": (
            "Batang: proporsi seluruh kasus dalam kelompok yang mencapai setiap tahap (kasus "
            "yang melewatkan tahap dihitung telah melaluinya). Panah di samping batang adalah "
            "proporsi kasus tahap sebelumnya yang sampai sejauh ini."
        ),
        "of_previous": "→ {share}",
        "exits_section": "Alasan penutupan kasus",
        "exits_note": (
            "Alasan penutupan semua kasus yang ditutup, diwarnai menurut jenis penutupan; "
            "lalu jenis penutupan setiap kelompok, sebagai proporsi kasus yang ditutup."
        ),
        "reasons_title": "Alasan penutupan (seluruh kohort)",
        "types_title": "Jenis penutupan menurut kelompok",
        "share_of_closed": "Proporsi kasus ditutup",
        "comparisons_section": "Perbandingan yang adil antarkelompok",
        "comparisons_note": (
            "Setiap titik adalah satu kelompok: angkanya terhadap jumlah kasusnya. Di dalam "
            "corong (batas 95% dan 99,8% di sekitar angka seluruh kohort) perbedaan adalah "
            "hasil kebetulan pada ukuran itu; hanya kelompok di luar batas 99,8% yang jelas "
            "berbeda."
        ),
        "outside_limits": "Di luar batas 99,8%: {groups}.",
        "none_outside": "Tidak ada kelompok di luar batas 99,8%.",
        "trends_section": "Tren antar semester",
        "trends_note": "Angka setiap semester dengan selang 95%; uji menanyakan apakah angka bergerak ajek.",
        "curves_section": "Bertahan dalam pemantauan dan tetap pulih",
        "curves_note": (
            "Kiri: proporsi yang masih dalam pemantauan (belum putus) menurut hari sejak "
            "intake. Kanan: di antara klien yang mencapai pulih berkelanjutan, proporsi yang "
            "belum kambuh menurut hari sejak pulih. Arsiran: selang 95%. Di bawah: klien "
            "yang masih diikuti."
        ),
        "curves_published_note": (
            "Kurva terbitan ditampilkan setiap {step} hari, dengan jumlah yang diikuti "
            "dibulatkan ke kelipatan 5, dan berhenti sebelum tersisa kurang dari {threshold} "
            "klien."
        ),
        "competing_section": "Penutupan bersaing dari waktu ke waktu",
        "competing_note": (
            "Proporsi kasus yang sudah berakhir pada setiap hari sejak intake, menurut jenis "
            "penutupan; sisanya masih terbuka. Proporsi penutupan bersaing dapat "
            "dijumlahkan, tidak seperti 1 dikurangi kurva kelangsungan terpisah."
        ),
        "placements_section": "Penempatan PKL",
        "placements_note": "Satu baris per penempatan mahasiswa (sesi digabung untuk angka ketidakhadiran).",
        "folded_note": (
            "{n} kelompok ditampilkan bersama sebagai “{other}”: yang kliennya kurang dari "
            "{threshold} (kelompok kecil dapat mengungkap kliennya), dan, bila jumlahnya "
            "masih kurang dari {threshold}, kelompok terkecil lainnya bersama mereka."
        ),
        "small_cohort_banner": (
            "Kohort atau kelompoknya kecil: angka terbitan untuk kelompok sekecil ini sebagian "
            "besar disembunyikan. Untuk keperluan sendiri, buat laporan dengan --internal; "
            "untuk diterbitkan, kelompokkan lebih luas (misalnya --by term, atau satu "
            "program utuh)."
        ),
        "supervision_section": "Tampilan pembimbing",
        "stages_reached": "Kasus yang mencapai setiap tahap",
        "closed_because": "Kasus ditutup menurut alasan",
        "none_closed": "belum ada",
        "supervision_note": (
            "Satu bagian per penempatan. Perlu perhatian: kasus aktif dengan {missed} sesi "
            "terlewat atau lebih dalam 4 minggu terakhir, tes positif dalam 2 minggu "
            "terakhir, atau tanpa kontak lebih dari {silence} hari."
        ),
        "placement_index": "Penempatan",
        "needs_attention": "Perlu perhatian",
        "nobody_needs_attention": "Tidak ada kasus aktif yang perlu perhatian.",
        "missed_sessions": "sesi terlewat",
        "recent_positive": "tes positif baru-baru ini",
        "no_contact": "tanpa kontak",
        "missed_vs_site": "Angka sesi terlewat {rate} (lokasi: {site_rate}).",
        "quality_section": "Kualitas data",
        "quality_note": "Baris yang dibaca, diterima dan ditolak per tabel, dan masalah yang ditemukan.",
        "privacy_note": (
            "Privasi: jumlah 1 sampai {small} disembunyikan, beserta angka lain yang dapat "
            "dipakai untuk menghitungnya kembali ({hidden} sel seluruhnya), diperiksa dengan "
            "audit atas semua yang diterbitkan bersama. Grafik per klien tidak ditampilkan."
        ),
        "withheld": "Tidak diterbitkan: {reason}",
        "all_small": "semua jumlahnya di bawah {small}",
        "withheld_sparse": (
            "sebagian besar jumlahnya di bawah ambang untuk kelompok sekecil ini; "
            "lihat untuk kelompok yang lebih besar, atau di laporan internal"
        ),
        "withheld_unprotectable": "tidak ada penyembunyian yang dapat melindungi jumlah kecilnya",
        "withheld_per_client": "tabel per klien, tidak diterbitkan",
        "withheld_all_hidden": "semua angkanya akan disembunyikan pada ukuran ini",
        "withheld_no_curve": "tidak ada kurva yang dapat diterbitkan pada ukuran ini tanpa angka di bawah ambang",
        "download": "Angka di balik grafik ini (CSV)",
        "download_table": "Tabel ini sebagai berkas (CSV)",
        "footer": "Dibuat dengan casework_analytics {version} dari {source}, diamati sampai {as_of}.",
        "all_group": "Semua",
        "other_group": "Lainnya",
        "no_visits": "Sumber data tidak memiliki kunjungan pemantauan, jadi tidak ada yang ditampilkan.",
        "no_sessions": "Sumber data tidak memiliki tabel sesi.",
        "at_risk_rounded": "Diikuti (≈, dibulatkan ke 5)",
        "progress": "[{step}/{total}] {what} ({seconds} dtk)",
        "cli_source": "Sumber: {source}  (model tahap: {model})",
        "cli_counts": "tabel dibaca diterima ditolak",
        "cli_totals": "{errors} galat, {warnings} peringatan.",
        "cli_problems_written": "Laporan masalah ditulis ke {path}",
        "cli_auditing": "Memeriksa apa yang akan diterbitkan (pemrograman linear) ...",
        "cli_publishing": (
            "Menerbitkan: {folded} kelompok digabung ke 'Lainnya' (yang kliennya kurang dari "
            "{threshold}, dan kelompok terkecil lainnya sampai 'Lainnya' berisi {threshold}); "
            "angka 1 sampai {largest} disembunyikan; {withheld}."
        ),
        "cli_per_client_withheld": "tabel per klien tidak diterbitkan",
        "cli_wrote": "  menulis {name} ({rows} baris)",
        "cli_skipped": "  dilewati {name}: {reason}",
        "cli_tables_written": "Tabel ditulis ke {path}",
        "cli_rejected_hint": (
            "Ada baris yang ditolak; jalankan `casework-analytics validate` untuk laporan lengkap."
        ),
        "written": "Laporan ditulis ke {path} ({seconds} dtk)",
        "setup": "menyiapkan",
        "loading": "Memuat sumber data ...",
        "hidden_groups": "Tidak digambar, semua angkanya disembunyikan pada ukuran ini: {groups}.",
        "no_curve": "{what}: pada ukuran ini kurva tidak dapat diterbitkan tanpa angka 1 sampai {largest} di antara dua harinya. Kelompokkan lebih luas, atau buat laporan internal.",
        "no_curve_data": "{what}: tidak ada data untuk menggambar kurva.",
        "limits_hidden": "Tidak digambar, batas kendalinya disembunyikan pada ukuran ini: {metrics}.",
        "all_hidden": "Semua angka bagian ini disembunyikan pada ukuran ini. Kelompokkan lebih luas untuk menerbitkannya, atau buat laporan internal.",
        "footer_step": "catatan penutup",
        "parameters": "parameter",
        "col_placement_id": "Penempatan",
        "col_site": "Lokasi",
        "col_term": "Semester",
        "col_caseworker_id": "Praktikan",
        "col_n_cases": "Kasus",
        "col_n_closed": "Ditutup",
        "col_n_planned": "Selesai terencana",
        "col_completion": "Proporsi selesai terencana",
        "col_median_los_days": "Median lama layanan (hari)",
        "col_missed_rate": "Sesi terlewat",
        "col_table": "Tabel",
        "col_read": "Baris dibaca",
        "col_accepted": "Diterima",
        "col_rejected": "Ditolak",
        "col_rule": "Masalah",
        "col_severity": "Tingkat",
        "col_n": "Jumlah",
        "col_case_id": "Kasus",
        "col_days_since_contact": "Hari sejak kontak terakhir",
        "col_missed_recently": "Sesi terlewat (4 minggu)",
        "col_reasons": "Alasan",
        "error": "galat",
        "warning": "peringatan",
        "table_placements": "penempatan",
        "table_cases": "kasus",
        "table_stages": "tahapan",
        "table_sessions": "sesi",
        "table_visits": "kunjungan",
        "negative": "Negatif",
        "positive": "Positif",
        "missed": "Tidak hadir",
        "no_result": "Tanpa hasil",
        "unrecorded": "Tidak tercatat (putus pantau)",
        "not_scheduled": "Tidak dijadwalkan",
        "planned": "Terencana",
        "unplanned": "Tidak terencana",
        "administrative": "Administratif",
        "unknown": "Tidak diketahui",
        "cases": "Kasus",
        "share": "Proporsi penutupan",
        "reached": "Kasus yang mencapai tahap",
        "conversion": "dari tahap sebelumnya",
        "days": "Hari sejak intake",
        "weeks": "Minggu sejak intake",
        "survival": "Probabilitas",
        "at_risk": "Berisiko",
        "cumulative": "Insiden kumulatif",
        "dropout": "Masih dalam pemantauan",
        "first_positive": "Belum ada tes positif",
        "relapse": "Tidak kambuh (sejak pulih berkelanjutan)",
        "sustained": "Belum pulih berkelanjutan",
        "client": "Klien",
        "intake_month": "Bulan intake",
        "retained": "Proporsi yang masih hadir",
        "exit": "Penutupan",
        "in_care": "masih dalam layanan",
        "funnel": "Corong tahapan",
        "exits": "Alasan penutupan kasus",
        "swimmer": "Lini masa klien",
        "heatmap": "Pemantauan mingguan",
        "triangle": "Retensi menurut bulan intake",
        "showing": "menampilkan {n} dari {total} klien, {how}",
        "longest": "tindak lanjut terlama lebih dulu",
        "empty": "Tidak ada yang ditampilkan (tidak ada data, atau klien terlalu sedikit)",
        "hidden": "Disembunyikan (angka kecil)",
        "sensitivity": "Tes yang terlewat dihitung positif, atau diabaikan",
        "planned_completion": "Selesai terencana (dari kasus ditutup)",
        "term": "Semester",
        "trend_test": "tren antar semester: Cochran–Armitage p = {p}",
        "missing_positive": "Dihitung positif",
        "missing_ignore": "Diabaikan",
        "estimate": "Perkiraan",
        "retention": "Retensi 90 hari",
        "retention_km": "Retensi 90 hari (Kaplan–Meier)",
        "sustained_abstinence": "Pulih berkelanjutan",
        "not_relapsed": "Tidak kambuh (dari yang pulih)",
        "not_relapsed_km": "Tidak kambuh 90 hari setelah pulih (Kaplan–Meier)",
        "target": "Target",
        "limits": "Batas {level}",
        "outside": "Di luar batas {level}",
        "inside": "Di dalam batas",
        "n_cases": "Kasus (n)",
        "expected_count": "Jumlah harapan (E)",
        "proportion": "Proporsi",
        "oe_ratio": "Teramati / harapan",
        "unadjusted": "Proporsi tanpa penyesuaian",
        "adjusted": "Disesuaikan dengan bauran kasus (teramati / harapan)",
        "widened": "batas diperlebar karena overdispersi ({method}; φ = {phi}, p = {p})",
        "not_widened": "batas eksak, tidak diperlebar (φ = {phi}, p = {p})",
        "too_few_to_widen": (
            "batas eksak: variasi antarkelompok melebihi kebetulan (φ = {phi}, p = {p}), "
            "tetapi {n} kelompok terlalu sedikit untuk memperlebar batas (perlu {needed})"
        ),
        "multiplicative": "multiplikatif",
        "additive": "efek acak aditif",
        "hazard_ratio": "Rasio hazard",
        "odds_ratio": "Rasio odds",
        "log_scale": "skala log",
    },
}


def catalogue(lang: str) -> dict[str, str]:
    """All labels of one language; an unknown language is refused.

    Parameters
    ----------
    lang : {"en", "id"}

    Returns
    -------
    dict of str
        Label key to label.
    """
    if lang not in CATALOGUE:
        raise CaseworkError(
            f"The value for `lang` must be one of {list(LANGUAGES)}, but {lang!r} was passed."
        )
    return CATALOGUE[lang]


def text(key: str, lang: str = "en", **values: object) -> str:
    """The label ``key`` in ``lang``, with ``{placeholders}`` filled from ``values``.

    Parameters
    ----------
    key : str
        A key of the catalogue.
    lang : {"en", "id"}
    **values
        Values of the label's placeholders.

    Returns
    -------
    str

    Examples
    --------
    >>> text("cases", "id")
    'Kasus'
    """
    labels = catalogue(lang)
    if key not in labels:
        raise CaseworkError(f"Internal error: no label {key!r} in the {lang!r} catalogue.")
    return labels[key].format(**values) if values else labels[key]
