from bot.core.markdown import render


def test_bold_italic_links_and_paragraphs_for_each_network() -> None:
    result = render(
        "Le **rapport** est *en ligne*.\nLisez-le : [ici](https://example.org/r?a=1&b=2)\n\n_Merci_ !"
    )
    assert result.html == (
        "Le <b>rapport</b> est <i>en ligne</i>.\nLisez-le : "
        '<a href="https://example.org/r?a=1&amp;b=2">ici</a>\n\n<i>Merci</i> !'
    )
    assert result.html_shown == "Le rapport est en ligne.\nLisez-le : ici\n\nMerci !"
    assert result.plain == (
        "Le rapport est en ligne.\nLisez-le : ici (https://example.org/r?a=1&b=2)\n\nMerci !"
    )


def test_everything_else_is_escaped_for_telegram() -> None:
    result = render('<script>alert("x")</script> & <b>pas du gras</b>')
    assert result.html == '&lt;script&gt;alert("x")&lt;/script&gt; &amp; &lt;b&gt;pas du gras&lt;/b&gt;'
    assert result.plain == '<script>alert("x")</script> & <b>pas du gras</b>'


def test_a_link_whose_text_is_its_address_is_written_once() -> None:
    assert render("[https://example.org](https://example.org)").plain == "https://example.org"


def test_underscores_inside_words_and_escapes_stay_text() -> None:
    result = render(r"mot_clé_x \*pas en italique\* #gautrinweb2")
    assert result.html == "mot_clé_x *pas en italique* #gautrinweb2"


def test_only_web_links_become_links() -> None:
    assert render("[clic](javascript:alert(1))").html == "[clic](javascript:alert(1))"


def test_nested_emphasis_and_blank_lines() -> None:
    result = render("\n\n**gras et _italique_**\n\n\n\nfin\n")
    assert result.html == "<b>gras et <i>italique</i></b>\n\nfin"
    assert result.plain == "gras et italique\n\nfin"
