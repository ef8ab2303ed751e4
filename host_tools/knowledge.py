"""Technician knowledge for every cause in ``posdiag.catalog.CAUSES``.

For each cause id this module holds the remedy steps a technician follows, in English ("en")
and Simplified Chinese ("zh"), the readings of a record that support the cause, and whether the
customer should be offered an e-receipt. The facts come from the project's fault catalogue
(paper widths, near-end length, DLE ENQ recovery, rated lives, supply voltage, serial defaults,
network split, receipt rules); the wording is ours.
"""

from __future__ import annotations

__all__ = ["EVIDENCE", "E_RECEIPT", "READINGS", "STEPS", "steps"]

# Names of the readings in a record that may support a cause.
READINGS: tuple[str, ...] = (
    "printer.flags",
    "printer.raw",
    "printer.reply_ms",
    "printer.baud_found",
    "paper.flags",
    "host.flags",
    "host.rtt_ms",
    "host.echo_ms",
    "head.flags",
    "head.temp_dc",
    "power.flags",
    "power.mean_mv",
    "power.spread_mv",
    "error.stage",
    "error.name",
)

# STEPS[cause_id][lang]: ordered remedy steps, the same number in each language.
STEPS: dict[str, dict[str, tuple[str, ...]]] = {
    "paper-out": {
        "en": (
            "Open the cover and look at the roll: if the core is empty or the paper has run off the core, take it out.",
            "Load a thermal roll of the width the printer takes (57/58 mm or 80 mm; see the label "
            "in the paper bay), thermal side facing the head, pull about 5 cm past the cutter and "
            "close the cover until it clicks.",
            "Press FEED once and run the check again: the paper-end flags in the printer status "
            "and on the terminal's paper sensor should both be clear.",
            "If paper-end persists with a full roll loaded, switch off, blow the paper dust off "
            "the paper-end sensor in the paper path, wipe it with a dry cotton swab and check "
            "again.",
            "If only one source still reports paper-end (printer status or terminal sensor), "
            "check that sensor's connector and replace the sensor.",
        ),
        "zh": (
            "打开上盖查看纸卷：纸芯已空或纸尾已脱出纸芯的，把旧纸卷取出。",
            "装入该打印机规格宽度的热敏纸卷（57/58 mm 或 80 mm，见纸仓内标签），热敏面朝向"
            "打印头，纸头拉出切刀约 5 cm，压下上盖直到听到“咔哒”一声。",
            "按一下走纸键（FEED）后重新检测：打印机状态和终端纸传感器上的缺纸标志都应消失。",
            "装了满卷纸仍报缺纸的，先关机，吹掉纸路上缺纸传感器表面的纸屑，用干棉签擦净后再检测。",
            "只剩一路（打印机状态或终端传感器）仍报缺纸的，检查该传感器的插头，必要时更换传感器。",
        ),
    },
    "paper-near-end": {
        "en": (
            "This is a warning, not a failure: printing still works, and typical printers have "
            "1.5–7.5 m of paper left when near-end trips.",
            "Put a spare roll of the same width (57/58 mm or 80 mm) at the terminal and change it "
            "at the next quiet moment, at the latest when paper-out appears.",
            "If near-end shows right after a full roll was loaded, check that the roll sits "
            "properly on its holder and has the diameter the printer expects, and clean the "
            "near-end sensor with a dry swab.",
            "If the printer stops printing at near-end instead of at paper-end, check the "
            "paper-sensor setting (ESC c 4) and switch off stop-at-near-end there if the merchant "
            "wants to use the roll to the end.",
        ),
        "zh": (
            "这是预警不是故障：仍可正常打印，一般打印机报纸将尽时还剩约 1.5–7.5 m 纸。",
            "在终端旁备好同宽度（57/58 mm 或 80 mm）的新纸卷，趁不忙时更换，最迟在报缺纸时更换。",
            "刚装满卷纸就报纸将尽的，检查纸卷在纸架上是否放正、直径是否符合打印机要求，并用干棉签清洁纸将尽传感器。",
            "打印机在纸将尽时就停打、不等到缺纸的，检查纸传感器设置（ESC c 4）；商户想把纸卷"
            "用完的，在其中关闭“纸将尽停止打印”。",
        ),
    },
    "paper-loaded-backwards": {
        "en": (
            "Ask the merchant: did the receipt come out blank while the printer showed no error? "
            "This usually happens right after a roll change.",
            "Tear off a piece of the paper and scratch both sides with a fingernail: the side that "
            "turns dark is the thermal side.",
            "Reload the roll with the thermal side facing the print head, close the cover and "
            "print the self-test page (hold FEED while switching on): the text should be black "
            "and sharp.",
            "If neither side darkens when scratched, the roll is not thermal paper: replace it "
            "with a thermal roll of the right width.",
            "If the thermal side faces the head and the print is still blank or pale, check the "
            "print head and the supply voltage (see head-fault and power-unstable).",
        ),
        "zh": (
            "先问商户：小票出来是不是一片空白，而打印机没有报任何错误？这种情况多发生在刚换完纸卷之后。",
            "撕下一段纸，用指甲在两面各划一下：划过后变黑的一面是热敏面。",
            "重新装纸，让热敏面朝向打印头，合上上盖，打印自检页（按住走纸键开机）：字迹应清晰发黑。",
            "两面都划不黑的，说明这卷不是热敏纸，换成宽度合适的热敏纸卷。",
            "热敏面已朝向打印头仍然空白或很淡的，检查打印头和供电电压（见“打印头故障”和“电源电压不稳”）。",
        ),
    },
    "cover-open": {
        "en": (
            "Press the cover down on both sides until it latches with a click.",
            "Run the check again: the cover flag should clear in the printer status and on the "
            "terminal's cover switch; paper-end bits that appeared together with it usually clear "
            "as well.",
            "If the cover will not stay shut, look for paper caught in the latch, a roll too large "
            "for the bay, or a broken latch hook.",
            "If the cover is latched and cover-open still shows, test the cover switch with a "
            "multimeter (it must change state when the cover shuts) and replace the switch or the "
            "cover assembly; this is a technician job.",
        ),
        "zh": (
            "双手按下上盖两侧，直到“咔哒”一声卡紧。",
            "重新检测：打印机状态和终端上盖开关的开盖标志都应消失；随开盖一起出现的缺纸位一般也会随之消失。",
            "上盖合不住的，检查卡扣处是否夹了纸、纸卷是否过大、卡扣钩是否断裂。",
            "上盖已卡紧仍报开盖的，用万用表测上盖开关（开合上盖时通断应随之变化），更换开关"
            "或上盖组件，这需由技术人员处理。",
        ),
    },
    "cutter-jam": {
        "en": (
            "Open the cover (on most printers the cutter opens with it); if the blade is stuck "
            "out and blocks the cover, use the cutter release described in the printer manual "
            "instead of forcing it.",
            "Remove all paper scraps from the blades and the paper path with tweezers, check that "
            "nothing is left on the fixed blade, then close the cover.",
            "Send the recovery request DLE ENQ (10 05 02 clears the buffers and recovers, "
            "10 05 01 reprints from the failed line): the autocutter error should clear and the "
            "blade return home.",
            "Print a test receipt and check that it is cut cleanly.",
            "If jams recur, read the cut counter (GS g 2, counter 178: cumulative autocuts) and "
            "compare it with the rated life of 0.5–2 million cuts; near or past it, replace the "
            "autocutter.",
        ),
        "zh": (
            "打开上盖（多数机型切刀随上盖一起打开）；刀片卡在外面顶住上盖的，按说明书的切刀复位方法处理，不要硬掰。",
            "用镊子清除刀片和纸路上的所有碎纸，确认定刀上没有残留，然后合上上盖。",
            "发送恢复指令 DLE ENQ（10 05 02 清空缓冲区后恢复，10 05 01 从出错行重新打印）："
            "切刀错误应消失，刀片回到原位。",
            "打印一张测试小票，确认切口干净利落。",
            "反复卡刀的，读取切刀计数（GS g 2，计数器 178：累计切刀次数），与额定寿命 50–200"
            " 万刀比较；接近或超过的，更换切刀。",
        ),
    },
    "head-overheat": {
        "en": (
            "Wait: the printer resumes by itself once the head has cooled. Power-cycling does not "
            "help, and DLE ENQ does not clear this auto-recoverable error.",
            "Check ventilation: the printer must not stand in direct sun, next to a heater or in "
            "a closed drawer, and its vents must be free.",
            "Look at what is printed: large logos, dense graphics, long receipts and batches of "
            "reports raise the duty cycle; shrink the logo, lower the print density or space out "
            "report printing.",
            "If it overheats on short plain receipts in a cool place, suspect the head "
            "thermistor: after 30 minutes switched off the head temperature reading should be "
            "close to room temperature; if not, replace the thermistor or the head.",
        ),
        "zh": (
            "先等待：打印头冷却后打印机会自动恢复。断电重启没有用，DLE ENQ 也清除不了这种可自动恢复的错误。",
            "检查散热：打印机不要放在阳光直射处、暖气旁或封闭的抽屉里，散热口不能被挡住。",
            "看打印内容：大 Logo、密集图形、长小票和成批打印报表都会加重打印头负荷；缩小"
            " Logo、调低打印浓度，或把报表分批打印。",
            "在凉爽环境下打短小票也过热的，怀疑打印头热敏电阻：断电放置 30 分钟后，打印头"
            "温度读数应接近室温；不符的，更换热敏电阻或打印头。",
        ),
    },
    "head-fault": {
        "en": (
            "Power-cycle the printer once (off, wait 10 s, on) and run the check again; if the "
            "unrecoverable error has gone, note it and watch whether it returns.",
            "Print the self-test page (hold FEED while switching on): white vertical streaks or "
            "missing dots mean dead head elements.",
            "With the power off, check that the head's flat cable is fully seated at both ends.",
            "Read the head distance counter and compare it with the rated head life of "
            "100–150 km of paper; a head near or past it is worn out.",
            "Replace the print head, or the whole mechanism where head and driver are one part; "
            "a thermistor reading stuck at either end of its range (open or short) also means a "
            "new head.",
        ),
        "zh": (
            "将打印机断电重启一次（关机，等 10 秒，再开机）后重新检测；不可恢复错误消失的，"
            "记录下来，留意是否再次出现。",
            "打印自检页（按住走纸键开机）：出现竖向白线或缺点，说明打印头加热点已损坏。",
            "断电后检查打印头排线两端是否插到位。",
            "读取打印头走纸里程计数，与打印头额定寿命 100–150 km 比较，接近或超过说明打印头已到寿命。",
            "更换打印头；打印头与驱动板是一体的，更换整个机芯。热敏电阻读数顶到上限或下限"
            "（开路或短路）的，同样要换打印头。",
        ),
    },
    "power-unstable": {
        "en": (
            "Check that the adapter is the printer's original one (output voltage and current on "
            "its label match the printer's input label) and that it is plugged straight into a "
            "wall socket, not a shared power strip.",
            "Inspect the DC plug and cable for looseness, kinks or heat marks; wiggle the plug "
            "while printing and watch for resets.",
            "Measure the supply at the printer's input under load, while it prints a dense test "
            "page, not at idle: on many 80 mm printers it must stay within 24 V ±10 % "
            "(21.6–26.4 V); otherwise use the value on the printer's label.",
            "If the voltage sags out of range or dark areas print pale, replace the adapter with "
            "an original one and measure again.",
            "If the voltage holds under load but the printer still resets or prints pale, its "
            "power input or main board is faulty: send it for repair.",
        ),
        "zh": (
            "确认用的是打印机原装适配器（适配器标签上的输出电压、电流与打印机输入标签一致），"
            "并直接插在墙上插座，不要和其他电器共用插线板。",
            "检查 DC 插头和电源线有无松动、折痕或烧焦痕迹；打印时轻轻晃动插头，看打印机会不会重启。",
            "在带载状态下测打印机输入端电压，即打印大面积深色测试页时测，不要空载测：很多"
            " 80 mm 打印机应在 24 V ±10 %（21.6–26.4 V）以内，其他机型以铭牌标称值为准。",
            "电压跌出范围或深色区域打印发淡的，换上原装适配器后复测。",
            "带载电压正常但仍然重启或打印发淡的，是打印机电源输入或主板故障，送修。",
        ),
    },
    "printer-no-response": {
        "en": (
            "Check that the printer is switched on and its power LED is lit; if it is dark, check "
            "the adapter and the socket first (see power-unstable).",
            "Reseat both ends of the data cable, at the terminal and at the printer, and tighten "
            "the screws or latches.",
            "Check that the terminal's printer setting names the port the printer is actually "
            "connected to (serial, USB, Bluetooth or LAN).",
            "Print the self-test page (hold FEED while switching on): if it prints, the printer "
            "is fine and the fault lies between terminal and printer; if not, the printer itself "
            "is faulty.",
            "Swap the data cable for a known-good one and run the check again; if there is still "
            "no reply while the self-test prints, check the terminal's port.",
        ),
        "zh": (
            "确认打印机已开机、电源灯亮；灯不亮的，先查适配器和插座（见“电源电压不稳”）。",
            "把数据线两头（终端端和打印机端）拔下重新插紧，有螺丝或卡扣的要拧紧扣好。",
            "确认终端里设置的打印机端口（串口、USB、蓝牙或网口）就是打印机实际连接的端口。",
            "打印自检页（按住走纸键开机）：能打出来，说明打印机本身正常，问题在终端和打印机"
            "之间；打不出来，是打印机本身故障。",
            "换一根确认完好的数据线再检测；自检页能打印但仍无响应的，检查终端的端口。",
        ),
    },
    "link-garbled": {
        "en": (
            "Print the self-test page (hold FEED while switching on) and note the interface "
            "settings it lists: baud rate, data bits, parity, stop bits, flow control.",
            "Compare them with the terminal's printer port settings (factory default is often "
            "9600 8N1: 9600 baud, 8 data bits, no parity, 1 stop bit) and change one side so "
            "both match.",
            "If the printer's settings cannot be read, try the common baud rates (9600, 19200, "
            "38400, 115200) and keep the one whose status replies pass the check.",
            "Make sure both sides use the same flow control (XON/XOFF or RTS/CTS) and that the "
            "printer runs ESC/POS, not another printer language.",
            "If the settings match and replies are still garbled, replace the cable (wrong "
            "pin-out or damaged wire) and run the check again.",
        ),
        "zh": (
            "打印自检页（按住走纸键开机），记下上面列出的接口参数：波特率、数据位、校验位、停止位、流控。",
            "与终端打印机端口的设置逐项对照（出厂默认多为 9600 8N1：9600 波特、8 位数据位、"
            "无校验、1 位停止位），改动其中一方使两边一致。",
            "读不到打印机参数的，依次试常用波特率（9600、19200、38400、115200），取状态回复能通过校验的那个。",
            "确认两边流控方式相同（XON/XOFF 或 RTS/CTS），并且打印机用的是 ESC/POS 指令，而不是其他打印语言。",
            "参数一致仍然乱码的，更换数据线（线序不对或芯线损坏）后重新检测。",
        ),
    },
    "link-intermittent": {
        "en": (
            "Compare several records: a printer that answers in some and not in others points to "
            "the cable or connectors, not to a single failure.",
            "If the printer resets at the same moments (power LED flickers), treat it as a power "
            "problem first (see power-unstable).",
            "Reseat and lock both cable ends, then wiggle the cable near each connector while the "
            "check runs repeatedly and watch for missed replies.",
            "Inspect the cable for kinks, crushed spots or cut insulation (under the cash drawer, "
            "under chair wheels) and replace it with a known-good one.",
            "If replies still drop with a new cable, inspect the connector pins on terminal and "
            "printer for bent or corroded contacts and have the connector replaced.",
        ),
        "zh": (
            "对比多条检测记录：打印机时而应答时而不应答，说明是数据线或接头的问题，而不是某一次的偶发故障。",
            "如果同一时刻打印机还会重启（电源灯闪烁），先按电源问题处理（见“电源电压不稳”）。",
            "把数据线两头重新插紧锁好，然后一边反复检测，一边轻轻晃动靠近各接头处的线，看是否出现漏应答。",
            "检查数据线有无折痕、压扁或破皮（钱箱下、椅子轮下最常见），换一根确认完好的线。",
            "换了新线仍然掉线的，检查终端和打印机接口针脚有无弯曲或氧化，请技术人员更换接口。",
        ),
    },
    "printer-busy-offline": {
        "en": (
            "Check that nobody is holding FEED and that the button springs back when pressed and released.",
            "Wait a few seconds: while paper is fed by FEED or the printer waits for recovery it "
            "is offline by design and comes back by itself.",
            "If it stays offline with no error, send the recovery request DLE ENQ (10 05 02 "
            "clears the buffers and recovers, 10 05 01 reprints from the failed line) and run the "
            "check again.",
            "If FEED sticks or the printer keeps going offline on its own, clean or replace the "
            "FEED switch (technician job).",
        ),
        "zh": (
            "确认没有人按着走纸键，且按下松开后按键能自行弹起。",
            "等几秒：用走纸键走纸或等待恢复期间，打印机本来就处于脱机状态，之后会自行恢复。",
            "一直脱机又没有报错的，发送恢复指令 DLE ENQ（10 05 02 清空缓冲区后恢复，10 05 01 "
            "从出错行重新打印），然后重新检测。",
            "走纸键卡住或打印机反复自行脱机的，清洁或更换走纸键开关（由技术人员处理）。",
        ),
    },
    "host-unreachable": {
        "en": (
            "Do not charge the card a second time: first check in the terminal's transaction "
            "list, or with the acquirer, whether the last payment went through.",
            "Split LAN from ISP: check whether the terminal reaches its gateway (router). If not, "
            "the fault is local: LAN cable and link LED, Wi-Fi signal, SIM and mobile signal, "
            "router power.",
            "If the gateway answers but the host does not: a DNS failure means checking the DNS "
            "settings; refused or timed-out connections point to the provider or the backend, so "
            "check the router's internet connection, then ask the acquirer.",
            "Check the host address and port in the terminal against the acquirer's parameter "
            "sheet; a wrong port also shows up as a refused connection.",
            "Once the host check passes, print the held receipt, or send it as an e-receipt if "
            "the customer has already left.",
        ),
        "zh": (
            "不要重复刷卡扣款：先在终端交易记录里或向收单机构确认上一笔是否已经成功。",
            "先区分局域网和外网：看终端能否连通网关（路由器）。连不通是本地问题，检查网线和"
            "网口指示灯、Wi-Fi 信号、SIM 卡和移动信号、路由器电源。",
            "网关通但主机不通：DNS 解析失败的，检查 DNS 设置；连接被拒或超时的，问题在运营商"
            "或后台，先查路由器外网连接，再联系收单机构。",
            "对照收单机构提供的参数表，核对终端里的主机地址和端口；端口填错也会表现为连接被拒。",
            "主机检测通过后补打这笔交易的小票；顾客已经离开的，改发电子小票。",
        ),
    },
    "host-slow": {
        "en": (
            "Look at the round-trip times over several records: occasional spikes point to the "
            "wireless or mobile signal, constantly high values to the line or the provider.",
            "On Wi-Fi or mobile data, check the signal strength; move the terminal or its base "
            "closer to the access point, or use a cable where possible.",
            "On a cable, check the cable and the switch port (link LED), swap cable or port, and "
            "restart the switch or router.",
            "If the gateway answers quickly but the host is still slow, the delay is outside the "
            "shop: contact the internet provider, then the acquirer.",
        ),
        "zh": (
            "查看多条记录的往返时延：偶尔飙高多是无线或移动信号问题，一直偏高多是线路或运营商问题。",
            "用 Wi-Fi 或移动网络的，看信号强度，把终端或底座挪近无线接入点，条件允许就改用网线。",
            "用网线的，检查网线和交换机端口（看网口灯），换线或换端口，重启交换机或路由器。",
            "网关响应快而主机仍然慢的，延迟出在店外：先联系宽带运营商，再联系收单机构。",
        ),
    },
    "host-rejects": {
        "en": (
            "The connection opens, so the network works: the fault is in the host settings or at the backend.",
            "Compare the terminal parameters with the acquirer's sheet: host address, port, TLS "
            "on or off, terminal ID and merchant ID.",
            "Check the terminal's date and time; a wrong clock makes TLS certificate checks fail.",
            "If the parameters are right, call the acquirer's help desk with the terminal ID and "
            "the time of the failure: the backend may be down or the terminal not activated.",
        ),
        "zh": (
            "连接能建立，说明网络是通的：问题出在主机参数或后台。",
            "对照收单机构参数表核对终端参数：主机地址、端口、是否启用 TLS、终端号、商户号。",
            "检查终端日期和时间，时钟不准会导致 TLS 证书校验失败。",
            "参数都正确的，带上终端号和出错时间打收单机构客服电话：可能是后台故障或终端未激活。",
        ),
    },
    "software-mismatch": {
        "en": (
            "Read the printer's model name and firmware version (GS I 67 and GS I 65) and the "
            "terminal software version, and compare them with the supported list.",
            "Check the printer's command set: it must run ESC/POS, not a vendor mode or an "
            "emulation; switch it with the vendor's utility or DIP switches.",
            "Check that the printer model and driver selected in the POS application match the "
            "printer actually connected.",
            "Update the terminal software or the printer firmware to a supported version; keep "
            "the power on during a firmware update.",
            "Print a test receipt: the job should now be accepted.",
        ),
        "zh": (
            "读取打印机型号和固件版本（GS I 67、GS I 65）以及终端软件版本，与支持列表对照。",
            "检查打印机指令集：必须是 ESC/POS，而不是厂商专用模式或其他仿真模式；用厂商工具或拨码开关切换。",
            "确认收银软件里选的打印机型号和驱动与实际连接的打印机一致。",
            "把终端软件或打印机固件升级到支持的版本；升级固件过程中不要断电。",
            "打印一张测试小票，确认打印任务能被正常接受。",
        ),
    },
    "receipt-policy": {
        "en": (
            "This is not a fault: the terminal follows the receipt policy configured for this "
            "transaction type (paper required, electronic allowed, or print only on request).",
            "Check that the configured policy matches the rules where the shop is: Germany "
            "requires a receipt to be offered, which may be electronic with the customer's "
            "consent (a QR code on the customer display is fine); France since 2023 prints only "
            "on request.",
            "Offer the customer the e-receipt; print on paper if the customer asks and the policy allows it.",
            "If the merchant wants different behaviour, change the policy setting in the terminal "
            "configuration, within what local rules allow.",
        ),
        "zh": (
            "这不是故障：终端按该交易类型配置的小票政策执行（必须打印纸质、允许电子小票，或仅应顾客要求打印）。",
            "核对配置的政策是否符合门店所在地规定：德国要求必须向顾客提供小票，经顾客同意可以"
            "是电子形式（在顾客显示屏上显示二维码即可）；法国自 2023 年起只在顾客要求时才打印。",
            "向顾客提供电子小票；顾客要求纸质小票且政策允许的，再打印纸质小票。",
            "商户想改变做法的，在终端配置里修改小票政策，但不得超出当地规定允许的范围。",
        ),
    },
    "internal-error": {
        "en": (
            "The self-test itself stopped with an error: the record names the stage and the "
            "exception class. Checks it did not finish are unknown, not healthy.",
            "Pull the log (posdiag pull) and note the terminal id, firmware version and the "
            "record's error: send them to the posdiag maintainers with the printer's identity.",
            "Run posdiag selftest again: an error that recurs at the same stage points at that "
            "part (a printer that answers something unexpected, a sensor or ADC that fails).",
            "The terminal keeps serving its diagnostics link and journaling receipts: offer the "
            "customer the e-receipt meanwhile.",
        ),
        "zh": (
            "自检本身出错停止：记录里写明出错的环节和异常类型。未完成的检查结果未知，不代表正常。",
            "拉取日志（posdiag pull），记下终端号、固件版本和记录里的错误，连同打印机型号信息发给 posdiag 维护人员。",
            "再运行一次 posdiag selftest：每次都在同一环节出错，"
            "说明该部件有问题（打印机回复异常、传感器或 ADC 故障）。",
            "终端仍可通过诊断口连接并保存小票：期间向顾客提供电子小票。",
        ),
    },
}

# EVIDENCE[cause_id]: the readings of a record that support the cause. Empty for causes no
# sensor sees (the host asks the technician instead).
EVIDENCE: dict[str, tuple[str, ...]] = {
    "paper-out": ("printer.flags", "printer.raw", "paper.flags"),
    "paper-near-end": ("printer.flags", "printer.raw", "paper.flags"),
    "paper-loaded-backwards": (),
    "cover-open": ("printer.flags", "printer.raw", "paper.flags"),
    "cutter-jam": ("printer.flags", "printer.raw"),
    "head-overheat": ("printer.flags", "printer.raw", "head.flags", "head.temp_dc"),
    "head-fault": ("printer.flags", "printer.raw", "head.flags", "head.temp_dc"),
    "power-unstable": ("power.flags", "power.mean_mv", "power.spread_mv"),
    "printer-no-response": ("printer.flags", "printer.reply_ms"),
    "link-garbled": ("printer.flags", "printer.raw", "printer.baud_found"),
    "link-intermittent": ("printer.flags", "printer.reply_ms"),
    "printer-busy-offline": ("printer.flags", "printer.raw"),
    "host-unreachable": ("host.flags",),
    "host-slow": ("host.flags", "host.rtt_ms", "host.echo_ms"),
    "host-rejects": ("host.flags", "host.echo_ms"),
    "software-mismatch": ("printer.flags",),
    "receipt-policy": (),
    "internal-error": ("error.stage", "error.name"),
}

# Causes for which the customer is offered an e-receipt: every cause that stops the paper
# receipt (each fault-severity cause), plus the receipt policy.
E_RECEIPT: frozenset[str] = frozenset(
    {
        "paper-out",
        "paper-loaded-backwards",
        "cover-open",
        "cutter-jam",
        "head-overheat",
        "head-fault",
        "power-unstable",
        "printer-no-response",
        "link-garbled",
        "printer-busy-offline",
        "host-unreachable",
        "host-rejects",
        "software-mismatch",
        "receipt-policy",
        "internal-error",
    }
)


def steps(cause_id: str, lang: str) -> tuple[str, ...]:
    """The remedy steps for ``cause_id`` in ``lang`` ("zh" or "en"; any other language falls back
    to English). Raises KeyError for an unknown cause id."""
    by_lang = STEPS[cause_id]
    return by_lang.get(lang, by_lang["en"])
