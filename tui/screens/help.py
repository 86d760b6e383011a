"""The help screen (``?``): what goqa shows and a tour of the keys."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

TOUR = """\
# goqa — whose opinions does a model's answer resemble?

goqa asks a language model the GlobalOpinionQA survey questions (Durmus et al. 2023) and sets
its answer distribution beside those of people in many countries. On one question the
*similarity* of a country is 1 − Jensen–Shannon distance between the two distributions
(1 = identical); a run averages it over many questions.

## Everywhere

| Key | Does |
| --- | --- |
| `1` / `F1` | **Browse** the questions and ask one |
| `2` / `F2` | **Run**: ask every question the browse filter shows |
| `3` / `F3` | **Results** of stored runs |
| `4` / `F4` | **Countries**: how alike countries answer |
| `5` / `F5` | **Demo**: a presentation that steps through questions |
| `6` / `F6` | **Settings**: backends, template, policy, theme |
| `e` | **Experiments**: the paper's three experiments over the questions Browse shows |
| `ctrl+p` | Command palette: jump to a question by id or words, switch condition, backend, theme, view |
| `?` | This help |
| `ctrl+q` | Quit |

The status line at the top shows the dataset, the backend and the condition; click the
backend or the condition to change them.

## Browse

| Key | Does |
| --- | --- |
| `/` | Search question text and options (the list narrows as you type; `Enter` or `↓` returns to the list) |
| `s` | Source filter: all → GAS (Pew) → WVS |
| `f` | Only questions asked in one country |
| `x` | Clear the filters |
| `↑` `↓` `PgUp` `PgDn` `Home` `End` | Move through the list; the chart follows |
| `Enter` | Move into the chart to scroll it (a narrow terminal zooms it; `Esc` goes back) |
| `z` | Zoom: the question and its chart on the whole screen (`z` or `Esc` goes back) |
| `a` | **Ask** the model this question under the condition |
| `Esc` | Cancel an ask that is still running |
| `c` | Condition: default, a country ("How would someone from X answer"), or a language |
| `b` | Backend |
| `E` | **Estimators**: chart the configured one alone, or all five side by side (`a` then asks all five) |
| `+` / `-` | Add / remove a country in the chart |
| `r` | Reset the chart's countries |

## The chart

One group of bars per answer option (letter and text), one bar per series:
**Model** (the backend's answer under the condition) and the compared countries. Before
the model has answered, the chart shows the conditioned country and a few of the most
populous countries the question covers; once it has answered, the three countries closest to
the model on this question, plus the conditioned country. Each country's similarity to the
model is in the legend. Options such as *DK/Refused* are marked *non-substantive*; with the
policy `drop` they do not count in the similarity. Under the chart: how the distribution was
estimated (`logits`, `logprobs`, or `sampling n=…`) and the probability mass that fell
outside the option letters. A sampling backend's bars grow sample by sample.

With `E` the chart shows five estimators of the model's distribution, one series each,
named in the legend: **first-token** (the paper's), **order-averaged** (the question asked
under several option orders, averaged), **prior-corrected** (the model's letter prior, from a
calibration subset, divided out), **verbalized** (the shares the model writes down as JSON)
and **free-text** (the options chosen in unforced written answers). Each draws as it lands;
one that fails says why in its own rows. The countries' similarities are to the first one
listed, and the caption names the two estimators that disagree most. The Run view and the
experiments dialog choose the estimator of a run (the config's `estimator` to start with).

Answers go through the same response cache as the command line: asking a question twice
costs one request, and answers from `goqa run` appear here at once.

## Results

The runs in the store, newest first; the highlighted run's country leaderboard below.

| Key | Does |
| --- | --- |
| `↑` `↓` | Pick a run; its scores load below |
| `Enter` | Into the leaderboard; `Enter` on a country lists its per-question similarities, `Enter` on a question opens it |
| `w` | World **map** of the run's scores: beside the leaderboard on a wide terminal (150 columns or more), instead of it on a narrower one. Arrow keys or the mouse pick a country (shift moves six cells); the leaderboard's cursor moves the map's |
| `M` | Next **metric**: jsd → jsd-e → tv → wasserstein → kl → cosine → argmax (below); the leaderboard, the map and comparisons are scored again |
| `m` | Mark the highlighted run as the reference A |
| `c` | Compare the highlighted run B with A (or the latest default run of the same model) |
| `v` | Back to the run's own scores |
| `a` | **Estimator audit**: the run beside its runs of the same questions made with other estimators (the status line says when there are some) |
| `e` | Experiments (below) |
| `h` | Countries view on the highlighted country: whose people answer alike |
| `/` `s` `S` | Search, sort, reverse the leaderboard |
| `r` | Read the runs again |
| `Esc` | Up one level: questions → leaderboard → runs → leave |

Beside each score: its **95% CI** (bootstrap over questions, 1000 resamples, seed 0; the
light part of the bar and the whisker `─┤` draw it), the **uniform** answer's score (`┆`, the
floor a model has to beat) and the **best other** country's people's score: how well the
people of the closest other country (sharing at least 5 questions) match this one's.

The estimator audit shows, above its tabs, the first-token vs free-text argmax agreement, the
free-text refusal rate, how often the most likely option changes with the option order and
the verbalized parse rate; **Countries** gives each country's score under each estimator with
its 95% interval (`*`: differs from the first run's, q < 0.05), **Questions** the questions
where the estimators disagree most (`Enter` opens one), **Summary** every pair of runs, the
letter prior and the caveats. `ctrl+pgup`/`ctrl+pgdn` or a click switch the tabs.

Every board and the map score under the session's **metric**, named on the board's title
line; `M` (here, or on the Run view's leaderboard) or the command palette (*Metric: …*)
switches it, for every view until goqa exits:

| Metric | Per question, between the model's and the country's distributions |
| --- | --- |
| `jsd` | 1 − Jensen–Shannon distance, base 2 (the paper's metric, the default) |
| `jsd-e` | the same with natural logarithms (scipy's default base): same ranking, higher numbers |
| `tv` | 1 − total variation distance (half the L1 distance) |
| `wasserstein` | 1 − Wasserstein-1 distance / (K − 1) along the scale; **ordinal questions only** (a run with none says so) |
| `kl` | KL(country ‖ model) in **bits**: a divergence, **lower is better**, 0 best; the board ranks lowest first, its bars and the map's colours are turned so the closer end looks the same |
| `cosine` | cosine similarity of the two distributions |
| `argmax` | 1 when the model's most likely option is the country's plurality answer |

The uniform and best-other columns are under the same metric. The estimator audit stays
under jsd.

A comparison lists Δ = B − A per country with its paired bootstrap 95% CI, the sign-flip
test's **p** and the Benjamini–Hochberg **q** across countries; `*` marks q < 0.05. The
status line counts the countries B is significantly closer to and further from. Under `kl`
Δ is A − B, so a positive Δ means B is closer under every metric.

## Run

Name the run, pick the backend, the condition and the estimator, and start it: the
leaderboard below ranks the countries as answers arrive.

| Key | Does |
| --- | --- |
| `ctrl+r` | Start (the name of a stored unfinished run resumes it) |
| `ctrl+x` | Cancel; what was stored stays |
| `ctrl+l` | Move to the live leaderboard |
| `M` | On the leaderboard: next metric (as in Results; the choice holds in both views) |
| `Esc` | Leave the view |

## Experiments

`e` anywhere (or the command palette) opens the dialog: choose *default*, *cross-national*
("How would someone from X answer", targets China, Russia, Turkey) or *linguistic* (the
question translated, targets ru, zh, tr), the targets, the backend and the run-name prefix.
Every run asks the questions Browse shows; the runs are named `PREFIX-default`,
`PREFIX-country-Russia`…, so starting again resumes them and answers come from the cache.

| Key | Does |
| --- | --- |
| `ctrl+r` | Start (or resume); missing translations and unknown countries are reported before any request |
| `ctrl+x` | Cancel; what was stored stays |
| `Enter` on a listed run | Close and compare it with the default run in Results |
| `Esc` | Close (a running experiment is cancelled) |

The summary gives, for each conditioned run, the target's score and rank default →
conditioned, whether it moved toward its target, the countries that moved most, how many
countries are significantly closer or further and, for cross-national runs, how often the
answer overshoots into a stereotype. Bundled translations cover the first 30 sample questions
in ru, zh and tr; other questions and languages need `goqa translate --language CODE`.

## Settings

Test each backend's connection (one tiny question; it reports whether log-probabilities
came back or the backend falls back to sampling), choose the template (`paper` keeps the
paper's prompt verbatim, `v2` fixes its typo), the non-substantive policy and the theme.
Choices apply to this session; `d` makes the highlighted backend the default and `s` saves the template and policy as defaults (only those lines of the config file change; your comments stay). The theme is saved at once.

Press `Esc` to close this help.
"""


class HelpScreen(ModalScreen[None]):
    """A scrollable tour of goqa and its keys."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "dismiss", "Close", id="help.close", tooltip="Close"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-body") as body:
            body.border_title = "Help · Esc closes"
            body.can_focus = True
            yield Markdown(TOUR)

    def on_mount(self) -> None:
        self.query_one("#help-body", VerticalScroll).focus()
