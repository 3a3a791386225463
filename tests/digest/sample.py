"""A realistic digest for rendering tests and golden files.

Thirty invented but typical CAR-T / B-ALL papers over five topics plus two
scope-only papers, a retraction of an earlier paper (threaded on Slack), a
journal version of an earlier preprint (not threaded), and a coverage footer
with one failing and one silent feed. Titles, authors and DOIs are made up
in the style of the field; nothing here is a real record.
"""

from __future__ import annotations

from watcher.digest.build import DigestCandidate, build_digest
from watcher.models import Digest, Event, FollowUp, RuleHit, SourceCoverage, Span, WorkView

CREATED_AT = "2024-06-03T07:00:00Z"

TOPICS = {
    "antigen-escape": "CD19-negative relapse and antigen escape",
    "dual-target": "CD22 and dual-targeting CAR-T",
    "toxicity": "CRS, ICANS and toxicity management",
    "hsct": "Consolidative transplant after CAR-T",
    "mrd": "MRD and outcome prediction",
}

# title, journal, authors, pub types, topics (best first) with scores, matched terms, source, extra
PAPERS: list[
    tuple[str, str, tuple[str, ...], tuple[str, ...], tuple[tuple[str, float], ...], tuple[str, ...]]
] = [
    (
        "Lineage switch to acute myeloid leukemia after CD19-directed CAR-T therapy in KMT2A-rearranged infant B-ALL",
        "Blood",
        ("Lamble AJ", "Myers RM", "Taraseviciute A"),
        ("Journal Article",),
        (("antigen-escape", 9.1),),
        ("lineage switch", "CD19", "KMT2A"),
    ),
    (
        "CD19 exon 2 splice variants drive antigen-negative relapse after tisagenlecleucel",
        "Cancer Discov",
        ("Sotillo E", "Barrett DM", "Black KL"),
        ("Journal Article",),
        (("antigen-escape", 8.7), ("mrd", 3.0)),
        ("CD19", "antigen-negative relapse", "tisagenlecleucel"),
    ),
    (
        "Trogocytosis-mediated antigen loss in pediatric B-ALL treated with CAR T cells",
        "Nat Med",
        ("Hamieh M", "Dobrin A"),
        ("Journal Article",),
        (("antigen-escape", 7.9),),
        ("trogocytosis", "antigen loss"),
    ),
    (
        "Patterns of relapse after CD19 CAR-T in adults with B-ALL: a CIBMTR registry analysis",
        "J Clin Oncol",
        ("Pasquini MC", "Hu ZH", "Curran K", "Laetsch T"),
        ("Journal Article", "Multicenter Study"),
        (("antigen-escape", 7.5), ("hsct", 6.0)),
        ("relapse", "CD19", "B-ALL"),
    ),
    (
        "Tisagenlecleucel in patients aged <3 years with relapsed B-ALL: outcomes & toxicities",
        "Blood Adv",
        ("Ghorashian S", "Lucchini G", "Richardson R"),
        ("Journal Article",),
        (("antigen-escape", 5.2), ("toxicity", 4.9)),
        ("tisagenlecleucel", "relapsed B-ALL"),
    ),
    (
        "Single-cell multiomics of CD19-negative relapse reveals pre-existing antigen-low clones",
        "bioRxiv",
        ("Rabilloud T", "Potier D"),
        ("Preprint",),
        (("antigen-escape", 6.8),),
        ("CD19-negative relapse", "antigen-low"),
    ),
    (
        "CD22 CAR T cells after CD19 CAR-T failure: long-term follow-up of a phase 1 trial",
        "J Clin Oncol",
        ("Shah NN", "Highfill SL", "Shalabi H", "Fry TJ"),
        ("Clinical Trial, Phase I", "Journal Article"),
        (("dual-target", 9.4), ("antigen-escape", 5.5)),
        ("CD22", "CAR-T", "phase 1"),
    ),
    (
        "Bicistronic CD19/CD22 CAR T cells (AUTO3) in pediatric relapsed or refractory B-ALL",
        "Nat Med",
        ("Cordoba S", "Onuoha S", "Thomas S"),
        ("Clinical Trial", "Journal Article"),
        (("dual-target", 8.8),),
        ("CD19/CD22", "bicistronic"),
    ),
    (
        "Sequential CD19 and CD22 CAR-T infusion in adults: a randomized comparison",
        "Lancet Haematol",
        ("Pan J", "Tan Y", "Wang G"),
        ("Randomized Controlled Trial", "Journal Article"),
        (("dual-target", 8.1),),
        ("CD22", "sequential"),
    ),
    (
        "Tandem CAR design and the CD22 site density problem",
        "Blood",
        ("Ramakrishna S", "Fry TJ"),
        ("Review",),
        (("dual-target", 6.0),),
        ("CD22", "tandem CAR"),
    ),
    (
        "CD19/CD22 dual-targeting CAR T cells: a systematic review and meta-analysis of 21 studies",
        "Front Immunol",
        ("Liu Y", "Zhang X"),
        ("Meta-Analysis", "Systematic Review"),
        (("dual-target", 5.9),),
        ("CD19/CD22", "dual-targeting"),
    ),
    (
        "Obecabtagene autoleucel: fast-off-rate CD19 CAR with low rates of severe CRS in adult B-ALL",
        "N Engl J Med",
        ("Roddie C", "Sandhu KS", "Tholouli E", "Logan AC"),
        ("Clinical Trial, Phase II", "Journal Article"),
        (("toxicity", 9.6), ("dual-target", 2.0)),
        ("obecabtagene", "CRS", "B-ALL"),
    ),
    (
        "Anakinra prophylaxis for ICANS after CD19 CAR T-cell therapy",
        "Blood",
        ("Park JH", "Nath K", "Devlin SM"),
        ("Clinical Trial", "Journal Article"),
        (("toxicity", 8.2),),
        ("ICANS", "anakinra"),
    ),
    (
        "Hemophagocytic lymphohistiocytosis-like toxicity after CAR-T in children: a case series",
        "Transplant Cell Ther",
        ("McNerney KO", "DiNofia AM", "Teachey DT"),
        ("Journal Article",),
        (("toxicity", 7.4),),
        ("HLH", "CAR-T"),
    ),
    (
        "Immune effector cell-associated hematotoxicity in B-ALL: the CAR-HEMATOTOX score revisited",
        "Haematologica",
        ("Rejeski K", "Subklewe M"),
        ("Journal Article",),
        (("toxicity", 6.6),),
        ("hematotoxicity", "CAR-HEMATOTOX"),
    ),
    (
        "Fatal cerebral edema after CD19 CAR-T: a case report",
        "Br J Haematol",
        ("Gust J",),
        ("Case Reports",),
        (("toxicity", 5.1),),
        ("cerebral edema",),
    ),
    (
        "Tocilizumab timing and CAR T-cell expansion: a pooled pharmacokinetic analysis",
        "Clin Pharmacol Ther",
        ("Mueller KT", "Waldron E", "Grupp SA"),
        ("Journal Article",),
        (("toxicity", 4.8), ("mrd", 2.5)),
        ("tocilizumab", "expansion"),
    ),
    (
        "Consolidative allogeneic transplant after CAR-T remission in pediatric B-ALL: a propensity-matched analysis",
        "Blood",
        ("Summers C", "Wu QV", "Annesley C", "Gardner RA"),
        ("Journal Article",),
        (("hsct", 9.0), ("mrd", 6.5)),
        ("allogeneic transplant", "remission"),
    ),
    (
        "To transplant or not after tisagenlecleucel? Decision-making in the MRD-negative era",
        "Leukemia",
        ("Pulsipher MA", "Laetsch TW"),
        ("Review",),
        (("hsct", 7.7),),
        ("transplant", "MRD-negative"),
    ),
    (
        "Second CAR-T infusion versus HSCT for B-cell aplasia loss",
        "medRxiv",
        ("Myers RM", "Devine K"),
        ("Preprint",),
        (("hsct", 6.1),),
        ("B-cell aplasia", "HSCT"),
    ),
    (
        "Outcomes of HSCT in first remission after CD19 CAR-T for adult Ph+ B-ALL",
        "Transplant Cell Ther",
        ("Zhao H", "Wei J", "Huang H"),
        ("Journal Article",),
        (("hsct", 5.3),),
        ("HSCT", "Ph+"),
    ),
    (
        "Next-generation sequencing MRD at day 28 predicts relapse after CAR-T in B-ALL",
        "Blood",
        ("Pulsipher MA", "Han X", "Maude SL", "Laetsch TW"),
        ("Journal Article",),
        (("mrd", 8.9), ("antigen-escape", 4.0)),
        ("NGS-MRD", "relapse", "CAR-T"),
    ),
    (
        "Loss of B-cell aplasia within 6 months as a predictor of relapse",
        "Blood Adv",
        ("Finney OC", "Brakke HM", "Rawlings-Rhea S"),
        ("Journal Article",),
        (("mrd", 7.2),),
        ("B-cell aplasia", "relapse"),
    ),
    (
        "Circulating tumour DNA for post-CAR-T surveillance: a feasibility study",
        "Haematologica",
        ("Jacoby E", "Bielorai B"),
        ("Journal Article",),
        (("mrd", 6.4),),
        ("ctDNA", "surveillance"),
    ),
    (
        "CAR-T expansion kinetics and MRD: a model-based analysis of ELIANA and ENSIGN",
        "Clin Cancer Res",
        ("Stein AM", "Grupp SA", "Levine JE"),
        ("Journal Article",),
        (("mrd", 5.8), ("toxicity", 3.1)),
        ("expansion kinetics", "MRD"),
    ),
    (
        "Flow-MRD versus NGS-MRD concordance after brexucabtagene autoleucel",
        "Leukemia",
        ("Shah BD", "Ghobadi A", "Oluwole OO"),
        ("Journal Article",),
        (("mrd", 5.0),),
        ("brexucabtagene", "NGS-MRD"),
    ),
    (
        "Real-world brexucabtagene autoleucel in adult B-ALL: the ROCCA consortium",
        "Blood",
        ("Roloff GW", "Aldoss I", "Kopmar NE"),
        ("Journal Article", "Multicenter Study"),
        (("mrd", 4.5), ("toxicity", 4.4), ("hsct", 4.1)),
        ("brexucabtagene", "real-world", "B-ALL", "CRS", "ICANS", "HSCT", "MRD"),
    ),
    (
        "CD7 CAR-T cells after failure of CD19 therapy in T/B mixed-phenotype leukemia",
        "Leukemia",
        ("Pan J", "Tan Y"),
        ("Letter",),
        (("antigen-escape", 3.5),),
        ("CD7",),
    ),
    # scope-only: in scope (CAR-T and B-ALL) but no topic
    (
        "Costs of CAR-T therapy for B-ALL in publicly funded health systems",
        "Value Health",
        ("Lin JK", "Muffly LS"),
        ("Journal Article",),
        (),
        ("CAR-T", "B-ALL"),
    ),
    (
        "Patient-reported quality of life one year after CAR T-cell therapy for B-ALL",
        "Pediatr Blood Cancer",
        ("Laetsch TW", "Myers GD", "Baruchel A"),
        ("Journal Article",),
        (),
        ("CAR T-cell", "B-ALL"),
    ),
]


def _work(i: int, title: str, journal: str, authors: tuple[str, ...], types: tuple[str, ...]) -> WorkView:
    preprint = journal in ("bioRxiv", "medRxiv")
    work_id = 1000 + i
    if preprint:
        return WorkView(
            work_id=work_id,
            title=title,
            url=f"https://www.{journal.lower()}.org/content/10.1101/2024.05.{i:02d}.59{i:04d}v1",
            journal=journal,
            pub_date="2024-05-30",
            authors=authors,
            publication_types=types,
            is_preprint=True,
            doi=f"10.1101/2024.05.{i:02d}.59{i:04d}",
            first_seen_source=f"feed:{journal}",
            first_seen_at="2024-05-31T06:00:00Z",
        )
    pmid = str(38800000 + i * 37)
    if journal == "Blood":
        # Seen in the journal's own feed before PubMed indexed it.
        return WorkView(
            work_id=work_id,
            title=title,
            url=f"https://ashpublications.org/blood/article/doi/10.1182/blood.2024{i:06d}",
            journal=journal,
            pub_date="2024-05-29",
            authors=authors,
            publication_types=types,
            doi=f"10.1182/blood.2024{i:06d}",
            pmid=pmid,
            first_seen_source="feed:Blood",
            first_seen_at="2024-05-29T18:00:00Z",
            pubmed_seen_at="2024-05-31T04:00:00Z",
        )
    return WorkView(
        work_id=work_id,
        title=title,
        url=f"https://pubmed.ncbi.nlm.nih.gov/{pmid}/",
        journal=journal,
        pub_date="2024-06",
        authors=authors,
        publication_types=types,
        doi=f"10.1000/sample.{i:04d}" if i % 3 else None,
        pmid=pmid,
        first_seen_source="pubmed",
        first_seen_at="2024-06-01T05:30:00Z",
        pubmed_seen_at="2024-06-01T05:30:00Z",
    )


def _hit(rule_id: str, score: float, terms: tuple[str, ...]) -> RuleHit:
    spans = tuple(Span("title", 0, len(t), t) for t in terms)
    return RuleHit(rule_id=rule_id, score=score, clauses=tuple(f'"{t}"[tiab]' for t in terms), spans=spans)


def sample_candidates() -> list[DigestCandidate]:
    out = []
    for i, (title, journal, authors, types, topics, terms) in enumerate(PAPERS):
        hits = [_hit(rule, score, terms) for rule, score in topics]
        hits.append(_hit("scope", 1.0, ("CAR-T", "B-ALL")))
        score = max((s for _, s in topics), default=1.0)
        out.append(
            DigestCandidate(work=_work(i, title, journal, authors, types), hits=tuple(hits), score=score)
        )
    return out


RETRACTED = WorkView(
    work_id=512,
    title="CD19 CAR-T persistence is governed by a single TCF7 enhancer (RETRACTED)",
    url="https://pubmed.ncbi.nlm.nih.gov/37012345/",
    journal="Leukemia",
    pub_date="2023-04",
    authors=("Doe J", "Roe R"),
    publication_types=("Journal Article", "Retracted Publication"),
    doi="10.1038/s41375-023-01234-5",
    pmid="37012345",
    first_seen_source="pubmed",
    first_seen_at="2023-04-02T05:00:00Z",
)
PUBLISHED = WorkView(
    work_id=640,
    title="Humanized CD19 CAR-T after murine CAR failure in children with B-ALL",
    url="https://www.biorxiv.org/content/10.1101/2023.11.02.565001v2",
    journal="Blood",
    pub_date="2024-05-30",
    authors=("Myers RM", "Li Y", "Barz Leahy A"),
    doi="10.1182/blood.2023022800",
    pmid="38811111",
    first_seen_source="feed:bioRxiv",
    first_seen_at="2023-11-03T06:00:00Z",
)


def sample_followups() -> list[FollowUp]:
    return [
        FollowUp(
            event=Event(
                work_id=512,
                kind="retracted",
                detail="Retraction in Leukemia. 2024;38(6):1400",
                id=71,
                created_at="2024-06-02T05:00:00Z",
            ),
            work=RETRACTED,
            headline="Retraction in Leukemia. 2024;38(6):1400",
            thread=("C0DIGEST", "1698000000.000100"),
        ),
        FollowUp(
            event=Event(
                work_id=640, kind="journal_version", detail="Blood", id=72, created_at="2024-06-02T05:00:00Z"
            ),
            work=PUBLISHED,
            headline="",
        ),
    ]


def sample_coverage() -> list[SourceCoverage]:
    return [
        SourceCoverage("pubmed", polled=True, new_records=22),
        SourceCoverage("feed:Blood", polled=True, new_records=5),
        SourceCoverage("feed:bioRxiv", polled=True, new_records=3),
        SourceCoverage("feed:medRxiv", polled=True, new_records=1),
        SourceCoverage(
            "feed:Leukemia",
            polled=True,
            new_records=0,
            failing=True,
            last_error="HTTP 503 three runs in a row",
        ),
        SourceCoverage("feed:Haematologica", polled=True, new_records=0, silent=True),
    ]


def sample_digest() -> Digest:
    return build_digest(
        sample_candidates(),
        sample_followups(),
        sample_coverage(),
        TOPICS,
        title="CAR-T in B-ALL: daily literature digest",
        created_at=CREATED_AT,
    )


def big_digest(n: int = 200, title_len: int = 280) -> Digest:
    """``n`` papers with long titles, author lists and terms over five topics: a worst-case size."""
    items = []
    topics = list(TOPICS)
    for i in range(n):
        base = f"Paper {i:03d}: long-term outcomes of CD19 & CD22 CAR-T <in> relapsed B-ALL "
        title = (base + "with extended follow-up " * 20)[:title_len]
        work = WorkView(
            work_id=5000 + i,
            title=title,
            url=f"https://pubmed.ncbi.nlm.nih.gov/{39000000 + i}/",
            journal="Journal of Clinical Oncology & Hematology <Special Issue>",
            pub_date="2024-06-01",
            authors=tuple(f"Author{j} AB" for j in range(12)),
            publication_types=("Clinical Trial",),
            doi=f"10.1000/big.{i}",
            pmid=str(39000000 + i),
            first_seen_source="feed:Blood",
            first_seen_at="2024-05-29T18:00:00Z",
            pubmed_seen_at="2024-06-01T00:00:00Z",
        )
        terms = tuple(f"term-{k} & <{k}>" for k in range(8))
        hits = (_hit(topics[i % 5], 10 - (i % 7), terms), _hit(topics[(i + 1) % 5], 1.0, terms))
        items.append(DigestCandidate(work=work, hits=hits, score=10 - (i % 7) + i / 1000))
    return build_digest(items, sample_followups(), sample_coverage(), TOPICS, "Big digest", CREATED_AT)
